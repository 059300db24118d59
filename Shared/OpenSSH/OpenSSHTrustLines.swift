extension OpenSSHPublicKey {
    /// A known_hosts line trusting this key as a host CA for `hostPatterns`:
    /// `@cert-authority host1,*.example.com ssh-ed25519 AAAA… [comment]`.
    ///
    /// Patterns are known_hosts patterns (`*`, `?`, `!negated`, `[host]:port`); each must be
    /// non-empty and free of blanks and commas.
    package func knownHostsCertAuthorityLine(
        hostPatterns: [String], comment: String = ""
    ) throws(OpenSSHError) -> String {
        guard !hostPatterns.isEmpty else {
            throw .invalidHostPattern("no host pattern given; use \"*\" to trust the CA for every host")
        }
        for pattern in hostPatterns {
            guard !pattern.isEmpty else { throw .invalidHostPattern("a host pattern is empty") }
            guard !pattern.contains(where: { $0.isWhitespace || $0 == "," }) else {
                throw .invalidHostPattern("\"\(pattern)\" contains a blank or a comma; pass each pattern separately")
            }
        }
        return "@cert-authority \(hostPatterns.joined(separator: ",")) \(line(comment: comment))"
    }

    /// A line for sshd's `TrustedUserCAKeys` file: the CA's public key line.
    package func trustedUserCAKeysLine(comment: String = "") -> String {
        line(comment: comment)
    }
}
