import Foundation
import PazOpenSSH
import Testing

@Suite("OpenSSH certificates against ssh-keygen")
struct CertificateTests {
    private static let userExtensionNames = [
        "permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding", "permit-pty", "permit-user-rc",
    ]

    private static func now() -> UInt64 { UInt64(Date().timeIntervalSince1970) }

    @Test(
        "ssh-keygen -L lists every field of a user certificate we sign",
        arguments: OpenSSHKeyAlgorithm.allCases, OpenSSHKeyAlgorithm.allCases
    )
    func userCertificateListedBySSHKeygen(caAlgorithm: OpenSSHKeyAlgorithm, subjectAlgorithm: OpenSSHKeyAlgorithm) throws {
        let ca = OpenSSHPrivateKey.generate(caAlgorithm)
        let subject = OpenSSHPrivateKey.generate(subjectAlgorithm).publicKey
        let now = Self.now()
        let fields = OpenSSHCertificate.Fields(
            kind: .user, publicKey: subject, keyID: "alice@paz", principals: ["alice", "bob"],
            validAfter: now - 60, validBefore: now + 3600, serial: 7_000_000_001,
            criticalOptions: [.sourceAddress("127.0.0.1,10.0.0.0/8"), .forceCommand("/usr/bin/true")],
            // Deliberately unsorted: signing writes them in OpenSSH's order.
            extensions: [.permitUserRC, .permitPTY, .permitPortForwarding, .permitAgentForwarding, .permitX11Forwarding]
        )
        let certificate = try OpenSSHCertificate.sign(fields, with: ca)
        #expect(certificate.typeName == subjectAlgorithm.certificateName)
        #expect(certificate.signatureAlgorithm == caAlgorithm.name)

        try SSHKeygen.inTemporaryDirectory { keygen in
            try keygen.write(certificate.line(comment: "alice") + "\n", to: "cert.pub", mode: 0o644)
            let listing = CertificateListing(try keygen.run(["-L", "-f", "cert.pub"]))
            #expect(listing["Type"] == "\(subjectAlgorithm.certificateName) user certificate")
            #expect(listing["Public key"] == "\(keygenName(subjectAlgorithm))-CERT \(subject.fingerprint)")
            let signingCA = "\(keygenName(caAlgorithm)) \(ca.publicKey.fingerprint) (using \(caAlgorithm.name))"
            #expect(listing["Signing CA"] == signingCA)
            #expect(listing["Key ID"] == "\"alice@paz\"")
            #expect(listing["Serial"] == "7000000001")
            #expect(listing["Valid"] == "from \(keygenTime(now - 60)) to \(keygenTime(now + 3600))")
            #expect(listing.lists["Principals"] == ["alice", "bob"])
            #expect(listing.lists["Critical Options"] == ["force-command /usr/bin/true", "source-address 127.0.0.1,10.0.0.0/8"])
            #expect(listing.lists["Extensions"] == Self.userExtensionNames)
        }
    }

    @Test("ssh-keygen -L accepts a host certificate we sign as a host certificate", arguments: OpenSSHKeyAlgorithm.allCases)
    func hostCertificateListedBySSHKeygen(caAlgorithm: OpenSSHKeyAlgorithm) throws {
        let ca = OpenSSHPrivateKey.generate(caAlgorithm)
        let host = OpenSSHPrivateKey.generate(caAlgorithm == .ed25519 ? .ecdsaP256 : .ed25519).publicKey
        let certificate = try OpenSSHCertificate.sign(
            .init(kind: .host, publicKey: host, keyID: "mch_1", principals: ["host1.example.com", "10.0.0.5"],
                  validAfter: 0, validBefore: .max, serial: 3),
            with: ca
        )
        try SSHKeygen.inTemporaryDirectory { keygen in
            try keygen.write(certificate.line() + "\n", to: "host-cert.pub", mode: 0o644)
            let listing = CertificateListing(try keygen.run(["-L", "-f", "host-cert.pub"]))
            #expect(listing["Type"] == "\(host.algorithm.certificateName) host certificate")
            #expect(listing["Public key"] == "\(keygenName(host.algorithm))-CERT \(host.fingerprint)")
            #expect(listing["Key ID"] == "\"mch_1\"")
            #expect(listing["Serial"] == "3")
            #expect(listing["Valid"] == "forever")
            #expect(listing.lists["Principals"] == ["host1.example.com", "10.0.0.5"])
            #expect(listing.lists["Critical Options"] == [])
            #expect(listing.lists["Extensions"] == [])
        }
    }

    @Test("ssh-keygen refuses a certificate of ours whose signed part was altered", arguments: OpenSSHKeyAlgorithm.allCases)
    func sshKeygenRejectsTamperedCertificate(caAlgorithm: OpenSSHKeyAlgorithm) throws {
        let ca = OpenSSHPrivateKey.generate(caAlgorithm)
        let certificate = try OpenSSHCertificate.sign(
            .init(kind: .user, publicKey: OpenSSHPrivateKey.generate(.ed25519).publicKey, keyID: "k", principals: ["u"],
                  validAfter: 0, validBefore: .max),
            with: ca
        )
        let tampered = try Self.flippingNonceByte(of: certificate)
        #expect(throws: OpenSSHError.self) { try tampered.verifySignature() }
        try SSHKeygen.inTemporaryDirectory { keygen in
            try keygen.write(tampered.line() + "\n", to: "cert.pub", mode: 0o644)
            #expect(try keygen.runAllowingFailure(["-L", "-f", "cert.pub"]).status != 0)
            try keygen.write(certificate.line() + "\n", to: "good.pub", mode: 0o644)
            #expect(try keygen.runAllowingFailure(["-L", "-f", "good.pub"]).status == 0)
        }
    }

    @Test(
        "certificates ssh-keygen signs parse with identical fields and verify",
        arguments: [OpenSSHCertificate.Kind.user, .host], OpenSSHKeyAlgorithm.allCases
    )
    func parsesSSHKeygenCertificates(kind: OpenSSHCertificate.Kind, caAlgorithm: OpenSSHKeyAlgorithm) throws {
        let subjectAlgorithm: OpenSSHKeyAlgorithm = caAlgorithm == .ed25519 ? .ecdsaP256 : .ed25519
        func typeArguments(_ algorithm: OpenSSHKeyAlgorithm) -> [String] {
            algorithm == .ed25519 ? ["-t", "ed25519"] : ["-t", "ecdsa", "-b", "256"]
        }
        try SSHKeygen.inTemporaryDirectory { keygen in
            try keygen.run(["-q"] + typeArguments(caAlgorithm) + ["-N", "", "-C", "ca", "-f", "ca"])
            try keygen.run(["-q"] + typeArguments(subjectAlgorithm) + ["-N", "", "-C", "user@example", "-f", "user"])
            let hostFlag = kind == .host ? ["-h"] : []
            try keygen.run(
                ["-q", "-s", "ca", "-I", "id"] + hostFlag
                    + ["-n", "alice,bob", "-V", "+5m", "-z", "42", "-O", "source-address=127.0.0.1", "user.pub"]
            )
            let line = try keygen.read("user-cert.pub").trimmingCharacters(in: .whitespacesAndNewlines)
            let (certificate, comment) = try OpenSSHCertificate.parse(line: line)
            let listing = CertificateListing(try keygen.run(["-L", "-f", "user-cert.pub"]))

            #expect(certificate.kind == kind)
            #expect(listing["Type"] == "\(certificate.typeName) \(kind) certificate")
            #expect(certificate.typeName == subjectAlgorithm.certificateName)
            #expect(certificate.publicKey == (try OpenSSHPublicKey(line: try keygen.read("user.pub"))))
            #expect(listing["Public key"] == "\(keygenName(subjectAlgorithm))-CERT \(certificate.publicKey.fingerprint)")
            #expect(certificate.signatureKey == (try OpenSSHPublicKey(line: try keygen.read("ca.pub"))))
            let signingCA = "\(keygenName(caAlgorithm)) \(certificate.signatureKey.fingerprint)"
                + " (using \(certificate.signatureAlgorithm))"
            #expect(listing["Signing CA"] == signingCA)
            #expect(certificate.signatureAlgorithm == caAlgorithm.name)
            #expect(certificate.keyID == "id" && listing["Key ID"] == "\"id\"")
            #expect(certificate.serial == 42 && listing["Serial"] == "42")
            #expect(certificate.principals == ["alice", "bob"] && listing.lists["Principals"] == ["alice", "bob"])
            #expect(listing["Valid"] == "from \(keygenTime(certificate.validAfter)) to \(keygenTime(certificate.validBefore))")
            #expect(certificate.validBefore > Self.now() && certificate.validBefore <= Self.now() + 300)
            #expect(certificate.isValid())
            #expect(certificate.criticalOptions == [.sourceAddress("127.0.0.1")])
            #expect(listing.lists["Critical Options"] == certificate.criticalOptions.map(\.description))
            #expect(certificate.extensions.map(\.name) == (listing.lists["Extensions"] ?? ["missing"]))
            #expect(certificate.extensions == (kind == .user ? OpenSSHCertificate.Option.defaultUserExtensions : []))
            #expect(certificate.nonce.count == 32)
            #expect(comment == "user@example")
            #expect(certificate.line(comment: comment) == line)

            try certificate.verifySignature()
            #expect(certificate.isSignatureValid)
            let tampered = try Self.flippingNonceByte(of: certificate)
            #expect(!tampered.isSignatureValid)
            #expect {
                try tampered.verifySignature()
            } throws: { error in
                guard case .signatureInvalid = error as? OpenSSHError else { return false }
                return true
            }
        }
    }

    @Test("every single-byte change in the signed part is caught", arguments: OpenSSHKeyAlgorithm.allCases)
    func everySignedByteIsCovered(caAlgorithm: OpenSSHKeyAlgorithm) throws {
        let certificate = try OpenSSHCertificate.sign(
            .init(kind: .user, publicKey: OpenSSHPrivateKey.generate(.ecdsaP256).publicKey, keyID: "k",
                  principals: ["u"], validAfter: 1, validBefore: 2, criticalOptions: [.forceCommand("x")],
                  extensions: [.permitPTY]),
            with: OpenSSHPrivateKey.generate(caAlgorithm)
        )
        let signedCount = certificate.blob.count - 4 - certificate.signature.count
        for index in 0..<signedCount {
            var blob = certificate.blob
            blob[index] ^= 0x01
            // Either the change breaks the structure, or the signature no longer verifies.
            if let altered = try? OpenSSHCertificate(blob: blob) {
                #expect(!altered.isSignatureValid, "byte \(index) is not covered by the signature")
            }
        }
    }

    @Test("our certificates round-trip through their line", arguments: OpenSSHKeyAlgorithm.allCases)
    func roundTrip(caAlgorithm: OpenSSHKeyAlgorithm) throws {
        let ca = OpenSSHPrivateKey.generate(caAlgorithm)
        let fields = OpenSSHCertificate.Fields(
            kind: .user, publicKey: OpenSSHPrivateKey.generate(.ed25519).publicKey, keyID: "id with spaces",
            principals: [], validAfter: 10, validBefore: 20, serial: .max,
            criticalOptions: [.string("custom@example.com", ""), .flag("verify-required")],
            extensions: [.init(name: "data@example.com", data: [1, 2, 3]), .permitPTY]
        )
        let certificate = try OpenSSHCertificate.sign(fields, with: ca)
        let (parsed, comment) = try OpenSSHCertificate.parse(line: certificate.line(comment: "c d"))
        #expect(parsed == certificate && comment == "c d")
        #expect(parsed.fields == fields && parsed.signatureKey == ca.publicKey)
        #expect(parsed.extensions.map(\.name) == ["data@example.com", "permit-pty"])
        #expect(parsed.criticalOptions.map(\.name) == ["custom@example.com", "verify-required"])
        #expect(parsed.criticalOptions[0].stringValue == "" && parsed.criticalOptions[1].stringValue == nil)
        #expect(parsed.isSignatureValid)
        #expect(!parsed.isValid(at: Date(timeIntervalSince1970: 9)) && parsed.isValid(at: Date(timeIntervalSince1970: 10)))
        #expect(!parsed.isValid(at: Date(timeIntervalSince1970: 20)))
        #expect("\(parsed)".contains(ca.publicKey.fingerprint))
    }

    @Test("signing refuses unusable fields")
    func signingValidatesFields() throws {
        let ca = OpenSSHPrivateKey.generate(.ed25519)
        let base = OpenSSHCertificate.Fields(
            kind: .user, publicKey: ca.publicKey, keyID: "k", principals: ["u"], validAfter: 0, validBefore: 100
        )
        var fields = base
        fields.validAfter = 100
        #expect(throws: OpenSSHError.invalidCertificateField("valid after (100) must be before valid before (100)")) {
            try OpenSSHCertificate.sign(fields, with: ca)
        }
        fields = base
        fields.extensions = [.permitPTY, .permitPTY]
        #expect(throws: OpenSSHError.invalidOption("the extension permit-pty is given twice")) {
            try OpenSSHCertificate.sign(fields, with: ca)
        }
        fields = base
        fields.criticalOptions = [.flag("")]
        #expect(throws: OpenSSHError.self) { try OpenSSHCertificate.sign(fields, with: ca) }
        fields = base
        fields.nonce = []
        #expect(throws: OpenSSHError.invalidCertificateField("the nonce is empty")) {
            try OpenSSHCertificate.sign(fields, with: ca)
        }
        fields = base
        fields.principals = ["a", ""]
        #expect(throws: OpenSSHError.self) { try OpenSSHCertificate.sign(fields, with: ca) }
        // Options set after init (unsorted) are still written sorted.
        fields = base
        fields.extensions = [.permitUserRC, .permitX11Forwarding]
        let signed = try OpenSSHCertificate.sign(fields, with: ca)
        #expect(signed.extensions == [.permitX11Forwarding, .permitUserRC])
        #expect(try OpenSSHCertificate(blob: signed.blob) == signed)
    }

    /// The certificate with the first nonce byte flipped: still well-formed, no longer signed.
    private static func flippingNonceByte(of certificate: OpenSSHCertificate) throws -> OpenSSHCertificate {
        var blob = certificate.blob
        blob[4 + certificate.typeName.utf8.count + 4] ^= 0x80
        return try OpenSSHCertificate(blob: blob)
    }
}
