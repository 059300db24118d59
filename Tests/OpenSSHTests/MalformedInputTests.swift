import Foundation
import PazOpenSSH
import Testing

@Suite("Malformed OpenSSH input throws OpenSSHError")
struct MalformedInputTests {
    private static let ca = OpenSSHPrivateKey.generate(.ecdsaP256)
    private static let certificate = try! OpenSSHCertificate.sign(
        .init(kind: .user, publicKey: OpenSSHPrivateKey.generate(.ed25519).publicKey, keyID: "k", principals: ["a", "b"],
              validAfter: 0, validBefore: .max, criticalOptions: [.sourceAddress("127.0.0.1")],
              extensions: OpenSSHCertificate.Option.defaultUserExtensions),
        with: ca
    )

    @Test("bad base64 is reported as such")
    func badBase64() {
        #expect(throws: OpenSSHError.invalidBase64("public key")) { try OpenSSHPublicKey(line: "ssh-ed25519 AAAA*not-base64*") }
        #expect(throws: OpenSSHError.invalidBase64("certificate")) {
            try OpenSSHCertificate(line: "ssh-ed25519-cert-v01@openssh.com %%%% comment")
        }
        let file = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEA$$\n-----END OPENSSH PRIVATE KEY-----\n"
        #expect(throws: OpenSSHError.invalidBase64("private key file")) { try OpenSSHPrivateKey(openSSHFile: file) }
        #expect(throws: OpenSSHError.self) { try OpenSSHPublicKey(line: "ssh-ed25519") }
        #expect(throws: OpenSSHError.self) { try OpenSSHPublicKey(line: "") }
    }

    @Test("every truncation of a key, certificate or private key file throws")
    func truncatedBlobs() throws {
        let key = OpenSSHPrivateKey.generate(.ecdsaP256)
        for blob in [key.publicKey.blob, Self.certificate.blob] {
            for count in 0..<blob.count {
                let prefix = Array(blob[..<count])
                #expect(throws: OpenSSHError.self) { try OpenSSHPublicKey(blob: prefix) }
                #expect(throws: OpenSSHError.self) { try OpenSSHCertificate(blob: prefix) }
            }
        }
        let truncatedLine = "\(Self.certificate.typeName) \(Data(Self.certificate.blob.dropLast(10)).base64EncodedString())"
        #expect(throws: OpenSSHError.truncated("certificate")) { try OpenSSHCertificate(line: truncatedLine) }

        let inner = Array(Data(base64Encoded: key.openSSHFile().split(separator: "\n").dropFirst().dropLast().joined())!)
        for count in stride(from: 0, to: inner.count, by: 3) {
            let text = "-----BEGIN OPENSSH PRIVATE KEY-----\n\(Data(inner[..<count]).base64EncodedString())\n"
                + "-----END OPENSSH PRIVATE KEY-----\n"
            #expect(throws: OpenSSHError.self) { try OpenSSHPrivateKey(openSSHFile: text) }
        }
        #expect(throws: OpenSSHError.self) { try OpenSSHPrivateKey(openSSHFile: "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n") }
    }

    @Test("wrong or unsupported type strings are refused")
    func wrongTypes() throws {
        let ed25519 = OpenSSHPrivateKey.generate(.ed25519).publicKey
        let base64 = Data(ed25519.blob).base64EncodedString()
        #expect(throws: OpenSSHError.algorithmMismatch(declared: "ecdsa-sha2-nistp256", actual: "ssh-ed25519")) {
            try OpenSSHPublicKey(line: "ecdsa-sha2-nistp256 \(base64)")
        }
        let certBase64 = Data(Self.certificate.blob).base64EncodedString()
        #expect(throws: OpenSSHError.algorithmMismatch(
            declared: "ecdsa-sha2-nistp256-cert-v01@openssh.com", actual: "ssh-ed25519-cert-v01@openssh.com"
        )) { try OpenSSHCertificate(line: "ecdsa-sha2-nistp256-cert-v01@openssh.com \(certBase64)") }
        // A certificate is not a plain key, and a plain key is not a certificate.
        #expect(throws: OpenSSHError.unsupportedAlgorithm("ssh-ed25519-cert-v01@openssh.com")) {
            try OpenSSHPublicKey(line: Self.certificate.line())
        }
        #expect(throws: OpenSSHError.unsupportedAlgorithm("ssh-ed25519")) { try OpenSSHCertificate(line: ed25519.line()) }
        // A blob that names a type we do not handle.
        var writer = SSHWireWriter()
        writer.writeString("ssh-dss")
        writer.writeString([1, 2, 3])
        #expect(throws: OpenSSHError.unsupportedAlgorithm("ssh-dss")) { try OpenSSHPublicKey(blob: writer.bytes) }
        // A P-256 key whose curve field or point is wrong.
        var badCurve = SSHWireWriter()
        badCurve.writeString("ecdsa-sha2-nistp256")
        badCurve.writeString("nistp384")
        badCurve.writeString(OpenSSHPrivateKey.generate(.ecdsaP256).publicKey.keyBytes)
        #expect(throws: OpenSSHError.self) { try OpenSSHPublicKey(blob: badCurve.bytes) }
        #expect(throws: OpenSSHError.self) {
            try OpenSSHPublicKey(algorithm: .ecdsaP256, keyBytes: [4] + [UInt8](repeating: 1, count: 64))
        }
        #expect(throws: OpenSSHError.self) { try OpenSSHPublicKey(algorithm: .ed25519, keyBytes: [1, 2, 3]) }
    }

    @Test("RSA keys and certificates from ssh-keygen are refused as unsupported")
    func rsaFromSSHKeygen() throws {
        try SSHKeygen.inTemporaryDirectory { keygen in
            try keygen.run(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f", "rsa"])
            try keygen.run(["-q", "-t", "ed25519", "-N", "", "-f", "ca"])
            try keygen.run(["-q", "-s", "ca", "-I", "id", "rsa.pub"])
            let rsa = OpenSSHError.unsupportedAlgorithm("ssh-rsa")
            #expect(throws: rsa) { try OpenSSHPublicKey(line: try keygen.read("rsa.pub")) }
            #expect(throws: rsa) { try OpenSSHPrivateKey(openSSHFile: try keygen.read("rsa")) }
            #expect(throws: OpenSSHError.unsupportedAlgorithm("ssh-rsa-cert-v01@openssh.com")) {
                try OpenSSHCertificate(line: try keygen.read("rsa-cert.pub"))
            }
        }
    }

    @Test("an encrypted or non-OpenSSH private key file says what to do")
    func encryptedAndForeignPrivateKeys() throws {
        try SSHKeygen.inTemporaryDirectory { keygen in
            try keygen.run(["-q", "-t", "ed25519", "-N", "a passphrase", "-f", "enc"])
            #expect {
                try OpenSSHPrivateKey(openSSHFile: try keygen.read("enc"))
            } throws: { error in
                guard let error = error as? OpenSSHError, case .encryptedPrivateKey = error else { return false }
                return error.description.contains("ssh-keygen -p") && !error.description.contains("a passphrase")
            }
            try keygen.run(["-q", "-t", "ecdsa", "-b", "256", "-m", "PEM", "-N", "", "-f", "pem"])
            #expect(throws: OpenSSHError.self) { try OpenSSHPrivateKey(openSSHFile: try keygen.read("pem")) }
        }
        #expect(throws: OpenSSHError.self) { try OpenSSHPrivateKey(openSSHFile: "not a key") }
    }

    @Test("a private key file whose halves disagree is refused")
    func mismatchedPrivateKeyFile() throws {
        let one = OpenSSHPrivateKey.generate(.ed25519).openSSHFile()
        let other = OpenSSHPrivateKey.generate(.ed25519).publicKey
        // Swap the public key blob in the header for another key's.
        var inner = Array(Data(base64Encoded: one.split(separator: "\n").dropFirst().dropLast().joined())!)
        let blob = other.blob
        let start = inner.firstRange(of: try OpenSSHPrivateKey(openSSHFile: one).publicKey.blob)!.lowerBound
        inner.replaceSubrange(start..<(start + blob.count), with: blob)
        let text = "-----BEGIN OPENSSH PRIVATE KEY-----\n\(Data(inner).base64EncodedString())\n"
            + "-----END OPENSSH PRIVATE KEY-----\n"
        #expect(throws: OpenSSHError.malformed("private key file", "its public key does not match its private key")) {
            try OpenSSHPrivateKey(openSSHFile: text)
        }
    }

    @Test("random corruption never crashes the parsers", arguments: 0..<4)
    func randomCorruption(seed: Int) {
        var generator = SplitMix64(seed: UInt64(seed))
        for _ in 0..<500 {
            var blob = Self.certificate.blob
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let index = Int.random(in: 0..<blob.count, using: &generator)
                blob[index] = UInt8.random(in: 0...255, using: &generator)
            }
            if let parsed = try? OpenSSHCertificate(blob: blob), parsed.blob != Self.certificate.blob {
                #expect(!parsed.isSignatureValid || parsed.signature != Self.certificate.signature)
            }
            _ = try? OpenSSHPublicKey(blob: blob)
            let count = Int.random(in: 0..<200, using: &generator)
            let random = (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
            _ = try? OpenSSHCertificate(blob: random)
            _ = try? OpenSSHPublicKey(blob: random)
        }
    }

    @Test("every error explains itself", arguments: [
        OpenSSHError.invalidBase64("certificate"), .truncated("public key"), .malformed("certificate", "x"),
        .unsupportedAlgorithm("ssh-rsa"), .algorithmMismatch(declared: "a", actual: "b"),
        .encryptedPrivateKey(cipher: "aes256-ctr"), .invalidOption("x"), .invalidCertificateField("x"),
        .signatureInvalid("x"), .signingFailed("x"), .invalidHostPattern("x"),
    ])
    func errorDescriptions(error: OpenSSHError) {
        #expect(error.description.count > 20)
    }
}

/// A seeded generator so a failing corruption run can be replayed.
private struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
