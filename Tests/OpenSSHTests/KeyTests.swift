import Foundation
import PazOpenSSH
import Testing

@Suite("OpenSSH keys against ssh-keygen")
struct KeyTests {
    @Test("ssh-keygen -y accepts our private key file and derives our public key line", arguments: OpenSSHKeyAlgorithm.allCases)
    func privateKeyFileAcceptedBySSHKeygen(algorithm: OpenSSHKeyAlgorithm) throws {
        let key = OpenSSHPrivateKey.generate(algorithm)
        let file = key.openSSHFile(comment: "paz test key")
        #expect(file.hasPrefix("-----BEGIN OPENSSH PRIVATE KEY-----\n"))
        #expect(file.hasSuffix("-----END OPENSSH PRIVATE KEY-----\n"))
        #expect(file.split(separator: "\n").allSatisfy { $0.count <= 70 })
        try SSHKeygen.inTemporaryDirectory { keygen in
            try keygen.write(file, to: "id")
            let derived = try keygen.run(["-y", "-f", "id"]).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(derived == key.publicKey.line(comment: "paz test key"))
            #expect(try OpenSSHPublicKey(line: derived) == key.publicKey)
        }
    }

    @Test("our fingerprint equals ssh-keygen -l", arguments: OpenSSHKeyAlgorithm.allCases)
    func fingerprintMatchesSSHKeygen(algorithm: OpenSSHKeyAlgorithm) throws {
        let key = OpenSSHPrivateKey.generate(algorithm)
        try SSHKeygen.inTemporaryDirectory { keygen in
            try keygen.write(key.openSSHFile(comment: "c"), to: "id")
            try keygen.write(key.publicKey.line(comment: "c") + "\n", to: "other.pub", mode: 0o644)
            for file in ["id", "other.pub"] {
                let fields = try keygen.run(["-l", "-f", file]).split(separator: " ").map(String.init)
                #expect(fields.first == "256")
                #expect(fields.dropFirst().first == key.publicKey.fingerprint)
                #expect(fields.last?.trimmingCharacters(in: .whitespacesAndNewlines) == "(\(keygenName(algorithm)))")
            }
        }
        #expect(key.publicKey.fingerprint.hasPrefix("SHA256:") && !key.publicKey.fingerprint.hasSuffix("="))
    }

    @Test("keys ssh-keygen generates parse into the same public key, fingerprint and comment", arguments: [
        (OpenSSHKeyAlgorithm.ed25519, ["-t", "ed25519"]), (.ecdsaP256, ["-t", "ecdsa", "-b", "256"]),
    ])
    func parsesSSHKeygenKeys(algorithm: OpenSSHKeyAlgorithm, type: [String]) throws {
        try SSHKeygen.inTemporaryDirectory { keygen in
            try keygen.run(["-q"] + type + ["-N", "", "-C", "made by ssh-keygen", "-f", "id"])
            let publicLine = try keygen.read("id.pub").trimmingCharacters(in: .whitespacesAndNewlines)
            let (key, comment) = try OpenSSHPrivateKey.parse(openSSHFile: try keygen.read("id"))
            #expect(key.algorithm == algorithm)
            #expect(comment == "made by ssh-keygen")
            #expect(key.publicKey.line(comment: comment) == publicLine)
            let parsed = try OpenSSHPublicKey.parse(line: publicLine)
            #expect(parsed.key == key.publicKey && parsed.comment == "made by ssh-keygen")
            let fingerprint = try keygen.run(["-l", "-f", "id.pub"]).split(separator: " ")[1]
            #expect(key.publicKey.fingerprint == fingerprint)
            // What we sign with a key ssh-keygen made verifies with its public key.
            let signature = try key.signature(for: Array("hello".utf8))
            #expect(parsed.key.isValidSignature(signature, for: Array("hello".utf8)))
        }
    }

    @Test("private key file and public key line round-trip", arguments: OpenSSHKeyAlgorithm.allCases)
    func roundTrip(algorithm: OpenSSHKeyAlgorithm) throws {
        let key = OpenSSHPrivateKey.generate(algorithm)
        let (parsed, comment) = try OpenSSHPrivateKey.parse(openSSHFile: key.openSSHFile(comment: "a b c"))
        #expect(parsed.publicKey == key.publicKey && comment == "a b c")
        #expect(try OpenSSHPublicKey(line: key.publicKey.line()) == key.publicKey)
        #expect(try OpenSSHPublicKey(blob: key.publicKey.blob) == key.publicKey)
        #expect(key.publicKey.line().split(separator: " ").first.map(String.init) == algorithm.name)
        // Same key, fresh check numbers: the two files differ, the keys do not.
        #expect(key.openSSHFile() != key.openSSHFile())
    }

    @Test("signatures verify only for the signed bytes and the signing key", arguments: OpenSSHKeyAlgorithm.allCases)
    func signatures(algorithm: OpenSSHKeyAlgorithm) throws {
        let key = OpenSSHPrivateKey.generate(algorithm)
        let data = Array("data to sign".utf8)
        let signature = try key.signature(for: data)
        #expect(key.publicKey.isValidSignature(signature, for: data))
        #expect(!key.publicKey.isValidSignature(signature, for: data + [0]))
        #expect(!OpenSSHPrivateKey.generate(algorithm).publicKey.isValidSignature(signature, for: data))
        var tampered = signature
        tampered[tampered.count - 1] ^= 1
        #expect(throws: OpenSSHError.self) { try key.publicKey.verify(signature: tampered, for: data) }
    }

    @Test("descriptions name the key but never show the private key")
    func descriptionsAreRedacted() throws {
        let key = OpenSSHPrivateKey.generate(.ed25519)
        let body = key.openSSHFile().split(separator: "\n")[1]
        for text in ["\(key)", String(reflecting: key)] {
            #expect(text.contains(key.publicKey.fingerprint) && text.contains("redacted"))
            #expect(!text.contains(body))
        }
    }
}
