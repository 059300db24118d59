import Crypto
import Foundation

/// The key algorithms this module reads, writes, signs and verifies with.
package enum OpenSSHKeyAlgorithm: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// Ed25519 (`ssh-ed25519`).
    case ed25519 = "ssh-ed25519"
    /// ECDSA on NIST P-256 with SHA-256 (`ecdsa-sha2-nistp256`).
    case ecdsaP256 = "ecdsa-sha2-nistp256"

    /// The key type name, e.g. `ssh-ed25519`; also the name of the signatures the key makes.
    package var name: String { rawValue }

    /// The type name of a certificate for a key of this algorithm, e.g. `ssh-ed25519-cert-v01@openssh.com`.
    package var certificateName: String { rawValue + "-cert-v01@openssh.com" }

    package var description: String { rawValue }

    /// The algorithm named `name`, or ``OpenSSHError/unsupportedAlgorithm(_:)``.
    package init(name: String) throws(OpenSSHError) {
        guard let algorithm = OpenSSHKeyAlgorithm(rawValue: name) else { throw .unsupportedAlgorithm(name) }
        self = algorithm
    }

    /// The algorithm whose certificates are named `certificateName`.
    init(certificateName: String) throws(OpenSSHError) {
        guard let algorithm = Self.allCases.first(where: { $0.certificateName == certificateName }) else {
            throw .unsupportedAlgorithm(certificateName)
        }
        self = algorithm
    }

    /// The ECDSA curve identifier written inside keys (RFC 5656 §3.1).
    static let p256CurveName = "nistp256"
}

/// An Ed25519 or ECDSA P-256 public key, compared by its SSH wire blob.
///
/// Parsed from and written as an OpenSSH public key line (`ssh-ed25519 AAAA… comment`), which is also
/// what `TrustedUserCAKeys` files and `authorized_keys` hold.
package struct OpenSSHPublicKey: Sendable, Hashable, CustomStringConvertible {
    /// The key's algorithm.
    package let algorithm: OpenSSHKeyAlgorithm
    /// The raw key: 32 bytes for Ed25519, the 65-byte uncompressed point for P-256.
    package let keyBytes: [UInt8]

    /// A key from its raw bytes; the P-256 point is checked to be on the curve.
    package init(algorithm: OpenSSHKeyAlgorithm, keyBytes: [UInt8]) throws(OpenSSHError) {
        switch algorithm {
        case .ed25519:
            guard keyBytes.count == 32 else {
                throw .malformed("public key", "an Ed25519 key has 32 bytes, this one \(keyBytes.count)")
            }
        case .ecdsaP256:
            guard keyBytes.count == 65, keyBytes[0] == 4,
                  (try? P256.Signing.PublicKey(x963Representation: keyBytes)) != nil
            else { throw .malformed("public key", "it is not an uncompressed point on the P-256 curve") }
        }
        self.init(trusted: algorithm, keyBytes: keyBytes)
    }

    /// A key from bytes swift-crypto produced (already valid).
    init(trusted algorithm: OpenSSHKeyAlgorithm, keyBytes: [UInt8]) {
        self.algorithm = algorithm
        self.keyBytes = keyBytes
    }

    /// Parses a key blob in SSH wire encoding (what the base64 field of a public key line decodes to).
    package init(blob: [UInt8]) throws(OpenSSHError) {
        var reader = SSHWireReader(blob, what: "public key")
        let algorithm = try OpenSSHKeyAlgorithm(name: try reader.readText("key type"))
        try self.init(reading: &reader, algorithm: algorithm)
        try reader.expectEnd()
    }

    /// Parses a public key line: `<type> <base64> [comment]`; the comment is ignored.
    package init(line: String) throws(OpenSSHError) {
        self = try Self.parse(line: line).key
    }

    /// Parses a public key line and returns the key and its comment ("" if there is none).
    package static func parse(line: String) throws(OpenSSHError) -> (key: OpenSSHPublicKey, comment: String) {
        let fields = try OpenSSHLine(line, what: "public key")
        let key = try OpenSSHPublicKey(blob: fields.blob)
        guard key.algorithm.name == fields.type else {
            throw .algorithmMismatch(declared: fields.type, actual: key.algorithm.name)
        }
        return (key, fields.comment)
    }

    /// Reads the key fields that follow the type name in a blob, a certificate or a private key file.
    init(reading reader: inout SSHWireReader, algorithm: OpenSSHKeyAlgorithm) throws(OpenSSHError) {
        switch algorithm {
        case .ed25519:
            try self.init(algorithm: algorithm, keyBytes: try reader.readString())
        case .ecdsaP256:
            let curve = try reader.readText("curve name")
            guard curve == OpenSSHKeyAlgorithm.p256CurveName else {
                throw .malformed("public key", "curve \(curve) does not match \(algorithm.name)")
            }
            try self.init(algorithm: algorithm, keyBytes: try reader.readString())
        }
    }

    /// Writes the key fields that follow the type name.
    func writeFields(into writer: inout SSHWireWriter) {
        if algorithm == .ecdsaP256 { writer.writeString(OpenSSHKeyAlgorithm.p256CurveName) }
        writer.writeString(keyBytes)
    }

    /// The SSH wire encoding of the key.
    package var blob: [UInt8] {
        var writer = SSHWireWriter()
        writer.writeString(algorithm.name)
        writeFields(into: &writer)
        return writer.bytes
    }

    /// The key as one OpenSSH public key line, `<type> <base64>` and ` comment` if one is given.
    package func line(comment: String = "") -> String {
        OpenSSHLine.format(type: algorithm.name, blob: blob, comment: comment)
    }

    /// Algorithm and fingerprint (safe to log).
    package var description: String { "\(algorithm) \(fingerprint)" }
}

/// An Ed25519 or ECDSA P-256 private key held in memory. Its description and mirror are redacted.
package struct OpenSSHPrivateKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The public half.
    package let publicKey: OpenSSHPublicKey
    /// The Ed25519 seed or the P-256 scalar, 32 bytes (never printed).
    let secret: [UInt8]

    /// The key's algorithm.
    package var algorithm: OpenSSHKeyAlgorithm { publicKey.algorithm }

    /// A new random key.
    package static func generate(_ algorithm: OpenSSHKeyAlgorithm) -> OpenSSHPrivateKey {
        switch algorithm {
        case .ed25519:
            let key = Curve25519.Signing.PrivateKey()
            return OpenSSHPrivateKey(
                publicKey: OpenSSHPublicKey(trusted: algorithm, keyBytes: Array(key.publicKey.rawRepresentation)),
                secret: Array(key.rawRepresentation)
            )
        case .ecdsaP256:
            let key = P256.Signing.PrivateKey()
            return OpenSSHPrivateKey(
                publicKey: OpenSSHPublicKey(trusted: algorithm, keyBytes: Array(key.publicKey.x963Representation)),
                secret: Array(key.rawRepresentation)
            )
        }
    }

    private init(publicKey: OpenSSHPublicKey, secret: [UInt8]) {
        self.publicKey = publicKey
        self.secret = secret
    }

    /// A key from its 32 secret bytes (Ed25519 seed or P-256 scalar); derives the public key.
    init(algorithm: OpenSSHKeyAlgorithm, secret: [UInt8]) throws(OpenSSHError) {
        let publicBytes: [UInt8]
        switch algorithm {
        case .ed25519:
            guard let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: secret) else {
                throw .malformed("private key", "the Ed25519 seed is not 32 bytes")
            }
            publicBytes = Array(key.publicKey.rawRepresentation)
        case .ecdsaP256:
            guard let key = try? P256.Signing.PrivateKey(rawRepresentation: secret) else {
                throw .malformed("private key", "the P-256 scalar is out of range")
            }
            publicBytes = Array(key.publicKey.x963Representation)
        }
        self.publicKey = try OpenSSHPublicKey(algorithm: algorithm, keyBytes: publicBytes)
        self.secret = secret
    }

    package var description: String { "\(algorithm) private key \(publicKey.fingerprint) (redacted)" }
    package var debugDescription: String { description }
    /// Shows only the public key to `dump` and debuggers.
    package var customMirror: Mirror { Mirror(self, children: ["publicKey": publicKey]) }
}

/// The fields of a one-line OpenSSH key or certificate: `<type> <base64> [comment]`.
struct OpenSSHLine {
    let type: String
    let blob: [UInt8]
    let comment: String

    /// Splits `line` at its first two runs of blanks; `what` names the line in errors.
    init(_ line: String, what: String) throws(OpenSSHError) {
        let trimmed = line.trimmingCharacters(in: .whitespacesAndNewlines)
        let fields = trimmed.split(maxSplits: 2, whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 2 else { throw .malformed(what, "expected \"<type> <base64> [comment]\" on one line") }
        guard let data = Data(base64Encoded: String(fields[1])) else { throw .invalidBase64(what) }
        type = String(fields[0])
        blob = Array(data)
        comment = fields.count > 2 ? fields[2].trimmingCharacters(in: .whitespaces) : ""
    }

    /// `<type> <base64>`, and ` <comment>` when `comment` is not empty.
    static func format(type: String, blob: [UInt8], comment: String) -> String {
        let line = "\(type) \(Data(blob).base64EncodedString())"
        // A comment is one line: a line break in it would start a new (attacker-chosen) entry.
        let comment = comment.split(whereSeparator: \.isNewline).joined(separator: " ")
        return comment.isEmpty ? line : "\(line) \(comment)"
    }
}
