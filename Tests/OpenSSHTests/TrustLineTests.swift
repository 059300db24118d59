import PazOpenSSH
import Testing

@Suite("known_hosts and TrustedUserCAKeys lines")
struct TrustLineTests {
    @Test("a @cert-authority line is found by ssh-keygen -F for matching hosts only", arguments: OpenSSHKeyAlgorithm.allCases)
    func certAuthorityLine(algorithm: OpenSSHKeyAlgorithm) throws {
        let ca = OpenSSHPrivateKey.generate(algorithm).publicKey
        let line = try ca.knownHostsCertAuthorityLine(hostPatterns: ["*.example.com", "10.0.0.*"], comment: "paz host CA")
        #expect(line == "@cert-authority *.example.com,10.0.0.* \(ca.line(comment: "paz host CA"))")
        try SSHKeygen.inTemporaryDirectory { keygen in
            try keygen.write(line + "\n", to: "known_hosts", mode: 0o644)
            let found = try keygen.run(["-F", "web.example.com", "-f", "known_hosts"])
            #expect(found.contains("found: line 1 CA"))
            #expect(found.contains(line))
            #expect(try keygen.run(["-F", "10.0.0.7", "-f", "known_hosts"]).contains("found: line 1 CA"))
            #expect(try keygen.runAllowingFailure(["-F", "other.org", "-f", "known_hosts"]).stdout.isEmpty)
        }
    }

    @Test("a TrustedUserCAKeys line is the CA's public key line")
    func trustedUserCAKeysLine() throws {
        let ca = OpenSSHPrivateKey.generate(.ecdsaP256).publicKey
        let line = ca.trustedUserCAKeysLine(comment: "paz user CA")
        #expect(line == ca.line(comment: "paz user CA"))
        #expect(line.hasPrefix("ecdsa-sha2-nistp256 AAAA"))
        let parsed = try OpenSSHPublicKey.parse(line: line)
        #expect(parsed.key == ca && parsed.comment == "paz user CA")
        // A comment cannot smuggle in a second line.
        #expect(!ca.trustedUserCAKeysLine(comment: "a\nssh-ed25519 AAAA evil").contains("\n"))
    }

    @Test("unusable host patterns are refused", arguments: [[], [""], ["a b"], ["a,b"], ["ok", "x\ty"]])
    func invalidPatterns(patterns: [String]) {
        let ca = OpenSSHPrivateKey.generate(.ed25519).publicKey
        #expect(throws: OpenSSHError.self) { try ca.knownHostsCertAuthorityLine(hostPatterns: patterns) }
    }
}
