internal import CLibSSH2
import Foundation

/// An OpenSSH public key (`ssh-ed25519 AAAA…`, `ecdsa-sha2-nistp256 AAAA…`), compared by its wire blob.
///
/// Used for host keys (what the server must present) and, optionally, as the public half of a
/// user key or certificate.
package struct SSHPublicKey: Sendable, Hashable, CustomStringConvertible {
    /// The key's algorithm as named in its blob, e.g. `ssh-ed25519`.
    package let algorithm: String
    /// The SSH wire encoding of the key (what the base64 field of an OpenSSH line decodes to).
    package let blob: [UInt8]

    /// Parses one OpenSSH public key line: `<algorithm> <base64> [comment]`.
    package init(openSSH line: String) throws(SSHError) {
        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count >= 2 else {
            throw .invalidKey("expected an OpenSSH public key line \"<algorithm> <base64> [comment]\"")
        }
        guard let data = Data(base64Encoded: fields[1]) else {
            throw .invalidKey("the base64 field of the \(fields[0]) public key does not decode")
        }
        try self.init(blob: Array(data))
        guard algorithm == fields[0] else {
            throw .invalidKey("the public key line says \(fields[0]) but its blob holds \(algorithm)")
        }
    }

    /// Wraps a key blob in SSH wire encoding (as presented by a server).
    init(blob: [UInt8]) throws(SSHError) {
        // The blob starts with a uint32 length and the algorithm name.
        guard blob.count >= 4 else { throw .invalidKey("the public key blob is too short") }
        let length = blob[0..<4].reduce(0) { ($0 << 8) | Int($1) }
        guard length > 0, blob.count >= 4 + length,
              let name = String(bytes: blob[4..<(4 + length)], encoding: .ascii)
        else { throw .invalidKey("the public key blob does not start with an algorithm name") }
        self.algorithm = name
        self.blob = blob
    }

    /// The OpenSSH SHA-256 fingerprint, e.g. `SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s`.
    package var fingerprint: String {
        var digest = [UInt8](repeating: 0, count: 32)
        blob.withUnsafeBufferPointer { paz_sha256($0.baseAddress, $0.count, &digest) }
        let base64 = Data(digest).base64EncodedString()
        return "SHA256:" + base64.trimmingCharacters(in: CharacterSet(charactersIn: "="))
    }

    /// The key as one OpenSSH line, without a comment.
    package var openSSHLine: String {
        "\(algorithm) \(Data(blob).base64EncodedString())"
    }

    /// Algorithm and fingerprint (safe to log).
    package var description: String { "\(algorithm) \(fingerprint)" }
}

/// A private key in OpenSSH (`-----BEGIN OPENSSH PRIVATE KEY-----`) or PEM format, held in memory.
///
/// Never printed: `description` and `debugDescription` are redacted, so it cannot reach a log line
/// by interpolation. Unencrypted keys only.
package struct SSHPrivateKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The key file's text; read only when authenticating.
    let pem: String

    /// Wraps the text of a private key file as written by `ssh-keygen`.
    package init(pem: String) throws(SSHError) {
        guard pem.contains("-----BEGIN "), pem.contains("PRIVATE KEY-----") else {
            throw .invalidKey("expected a private key file (-----BEGIN OPENSSH PRIVATE KEY-----)")
        }
        self.pem = pem
    }

    package var description: String { "<private key redacted>" }
    package var debugDescription: String { description }
}

/// Who to log in as and with which key.
///
/// Tested against OpenSSH 9.2 with libssh2 1.10 (`libssh2_userauth_publickey_frommemory`):
/// OpenSSH-format Ed25519 and ECDSA P-256 private keys from `ssh-keygen` work. `publicKey` may carry
/// an OpenSSH user certificate line instead of the plain public key: an ECDSA certificate logs in,
/// an Ed25519 certificate is refused (`LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED`) — issue ECDSA
/// certificates to services.
package struct SSHCredentials: Sendable, CustomStringConvertible {
    /// The remote user name.
    package let user: String
    /// The private key (never logged).
    package let privateKey: SSHPrivateKey
    /// The public key or certificate line to offer; nil derives the public key from the private key.
    package let publicKey: String?

    /// Credentials for `user` with `privateKey`; `publicKey` optionally overrides what is offered.
    package init(user: String, privateKey: SSHPrivateKey, publicKey: String? = nil) {
        self.user = user
        self.privateKey = privateKey
        self.publicKey = publicKey
    }

    package var description: String { "user \(user) with a private key (redacted)" }
}

/// Which host keys a connection accepts. Built only through the static members, so "no check"
/// is never a default or an accident.
package struct SSHHostKeyPolicy: Sendable, CustomStringConvertible {
    enum Kind: Sendable {
        case expect([SSHPublicKey])
        case acceptAnyAndReport
    }

    let kind: Kind

    /// Accept only a server that presents `key` (or one of `more`); anything else is refused with
    /// ``SSHError/hostKeyMismatch(host:port:expected:presented:)`` before authentication.
    package static func expect(_ key: SSHPublicKey, _ more: SSHPublicKey...) -> SSHHostKeyPolicy {
        SSHHostKeyPolicy(kind: .expect([key] + more))
    }

    /// Accept only a server that presents one of `keys`; throws if `keys` is empty.
    package static func expect(anyOf keys: [SSHPublicKey]) throws(SSHError) -> SSHHostKeyPolicy {
        guard !keys.isEmpty else { throw .invalidKey("no expected host key given") }
        return SSHHostKeyPolicy(kind: .expect(keys))
    }

    /// Trust on first use: accept whatever key the server presents and report it as
    /// ``SSHSession/hostKey`` so the caller can record it. Only for recording a new machine's key.
    package static let acceptAnyAndReport = SSHHostKeyPolicy(kind: .acceptAnyAndReport)

    /// The `LIBSSH2_METHOD_HOSTKEY` preference: the expected keys' algorithms first.
    var methodPreference: String {
        let defaults = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                        "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"]
        switch kind {
        case .acceptAnyAndReport:
            return defaults.joined(separator: ",")
        case .expect(let keys):
            var seen = Set<String>()
            return keys.map(\.algorithm).filter { seen.insert($0).inserted }.joined(separator: ",")
        }
    }

    package var description: String {
        switch kind {
        case .acceptAnyAndReport: "accept any host key and report it"
        case .expect(let keys): "expect " + keys.map(\.fingerprint).joined(separator: " or ")
        }
    }
}
