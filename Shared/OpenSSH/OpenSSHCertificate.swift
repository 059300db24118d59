package import Foundation

/// An OpenSSH certificate (`ssh-ed25519-cert-v01@openssh.com`, `ecdsa-sha2-nistp256-cert-v01@openssh.com`)
/// as laid out in openssh-portable PROTOCOL.certkeys, signed by an Ed25519 or ECDSA P-256 CA.
///
/// Made by ``sign(_:with:)`` or parsed from a certificate line; the fields are read through
/// ``fields`` or directly (`certificate.keyID`). Parsing does not check the signature: call
/// ``verifySignature()``, and check the CA key and validity window yourself.
@dynamicMemberLookup
package struct OpenSSHCertificate: Sendable, Hashable, CustomStringConvertible {
    /// The signed fields.
    package let fields: Fields
    /// The CA key that signed the certificate (the "signature key" field).
    package let signatureKey: OpenSSHPublicKey
    /// The CA's SSH signature blob.
    package let signature: [UInt8]
    /// The whole certificate in SSH wire encoding (what the base64 field of its line decodes to).
    package let blob: [UInt8]
    /// How many leading bytes of ``blob`` the signature covers.
    private let signedCount: Int

    /// Reads a signed field, e.g. `certificate.principals`.
    package subscript<Value>(dynamicMember keyPath: KeyPath<Fields, Value>) -> Value { fields[keyPath: keyPath] }

    /// The certificate type name, e.g. `ssh-ed25519-cert-v01@openssh.com`.
    package var typeName: String { fields.publicKey.algorithm.certificateName }

    /// Signs `fields` with `ca` (its signature is `ssh-ed25519` or `ecdsa-sha2-nistp256`).
    ///
    /// Options are written sorted by name; an empty or repeated option name, an empty nonce or
    /// principal, or `validAfter >= validBefore` throws ``OpenSSHError/invalidOption(_:)`` or
    /// ``OpenSSHError/invalidCertificateField(_:)``.
    package static func sign(_ fields: Fields, with ca: OpenSSHPrivateKey) throws(OpenSSHError) -> OpenSSHCertificate {
        var fields = fields
        fields.criticalOptions = Fields.sorted(fields.criticalOptions)
        fields.extensions = Fields.sorted(fields.extensions)
        guard !fields.nonce.isEmpty else { throw .invalidCertificateField("the nonce is empty") }
        guard fields.validAfter < fields.validBefore else {
            throw .invalidCertificateField(
                "valid after (\(fields.validAfter)) must be before valid before (\(fields.validBefore))"
            )
        }
        guard !fields.principals.contains("") else { throw .invalidCertificateField("a principal is an empty string") }
        var writer = SSHWireWriter()
        writer.writeString(fields.publicKey.algorithm.certificateName)
        writer.writeString(fields.nonce)
        fields.publicKey.writeFields(into: &writer)
        writer.writeUInt64(fields.serial)
        writer.writeUInt32(fields.kind.rawValue)
        writer.writeString(fields.keyID)
        var principals = SSHWireWriter()
        for principal in fields.principals { principals.writeString(principal) }
        writer.writeString(principals.bytes)
        writer.writeUInt64(fields.validAfter)
        writer.writeUInt64(fields.validBefore)
        writer.writeString(try encode(fields.criticalOptions, "critical option"))
        writer.writeString(try encode(fields.extensions, "extension"))
        writer.writeString([UInt8]())  // reserved
        writer.writeString(ca.publicKey.blob)
        let signedCount = writer.bytes.count
        let signature = try ca.signature(for: writer.bytes)
        writer.writeString(signature)
        return OpenSSHCertificate(
            fields: fields, signatureKey: ca.publicKey, signature: signature, blob: writer.bytes,
            signedCount: signedCount
        )
    }

    private init(fields: Fields, signatureKey: OpenSSHPublicKey, signature: [UInt8], blob: [UInt8], signedCount: Int) {
        self.fields = fields
        self.signatureKey = signatureKey
        self.signature = signature
        self.blob = blob
        self.signedCount = signedCount
    }

    /// Parses a certificate blob in SSH wire encoding. Does not verify the signature.
    package init(blob: [UInt8]) throws(OpenSSHError) {
        var reader = SSHWireReader(blob, what: "certificate")
        let algorithm = try OpenSSHKeyAlgorithm(certificateName: try reader.readText("certificate type"))
        let nonce = try reader.readString()
        let publicKey = try OpenSSHPublicKey(reading: &reader, algorithm: algorithm)
        let serial = try reader.readUInt64()
        let kindValue = try reader.readUInt32()
        guard let kind = Kind(rawValue: kindValue) else {
            throw .malformed("certificate", "its type \(kindValue) is neither user (1) nor host (2)")
        }
        let keyID = try reader.readText("key id")
        var principalReader = SSHWireReader(try reader.readString(), what: "certificate")
        var principals: [String] = []
        while !principalReader.isAtEnd { principals.append(try principalReader.readText("principal")) }
        let validAfter = try reader.readUInt64()
        let validBefore = try reader.readUInt64()
        let critical = try Self.decode(try reader.readString(), "critical option")
        let extensions = try Self.decode(try reader.readString(), "extension")
        _ = try reader.readString()  // reserved
        signatureKey = try OpenSSHPublicKey(blob: try reader.readString())
        signedCount = reader.position
        signature = try reader.readString()
        try reader.expectEnd()
        var fields = Fields(
            kind: kind, publicKey: publicKey, keyID: keyID, principals: principals, validAfter: validAfter,
            validBefore: validBefore, serial: serial, nonce: nonce
        )
        // Kept in the order they were signed in (Fields.init would sort them).
        fields.criticalOptions = critical
        fields.extensions = extensions
        self.fields = fields
        self.blob = blob
    }

    /// Parses a certificate line `<type>-cert-v01@openssh.com <base64> [comment]`; the comment is ignored.
    package init(line: String) throws(OpenSSHError) {
        self = try Self.parse(line: line).certificate
    }

    /// Parses a certificate line and returns the certificate and its comment ("" if there is none).
    package static func parse(line: String) throws(OpenSSHError) -> (certificate: OpenSSHCertificate, comment: String) {
        let parts = try OpenSSHLine(line, what: "certificate")
        let certificate = try OpenSSHCertificate(blob: parts.blob)
        guard certificate.typeName == parts.type else {
            throw .algorithmMismatch(declared: parts.type, actual: certificate.typeName)
        }
        return (certificate, parts.comment)
    }

    /// The certificate line (what `ssh-keygen -s` writes to `<key>-cert.pub`).
    package func line(comment: String = "") -> String {
        OpenSSHLine.format(type: typeName, blob: blob, comment: comment)
    }

    /// Checks the signature against the embedded CA key (``signatureKey``); throws
    /// ``OpenSSHError/signatureInvalid(_:)`` if the certificate was altered or signed by another key.
    /// Whether that CA is trusted is the caller's decision.
    package func verifySignature() throws(OpenSSHError) {
        try signatureKey.verify(signature: signature, for: Array(blob[..<signedCount]))
    }

    /// True when the signature verifies against the embedded CA key.
    package var isSignatureValid: Bool { (try? verifySignature()) != nil }

    /// The signature algorithm named in the signature blob, e.g. `ssh-ed25519`.
    package var signatureAlgorithm: String {
        var reader = SSHWireReader(signature, what: "signature")
        return (try? reader.readText("algorithm")) ?? ""
    }

    /// True when `date` lies in `[validAfter, validBefore)`.
    package func isValid(at date: Date = Date()) -> Bool {
        let now = date.timeIntervalSince1970
        return Double(fields.validAfter) <= now && now < Double(fields.validBefore)
    }

    /// Type, key id, serial and fingerprints (safe to log).
    package var description: String {
        "\(fields.kind) certificate \(typeName) id \"\(fields.keyID)\" serial \(fields.serial)"
            + " for \(fields.publicKey.fingerprint) signed by \(signatureKey)"
    }

    /// Encodes options given sorted by name.
    private static func encode(_ options: [Option], _ kind: String) throws(OpenSSHError) -> [UInt8] {
        var writer = SSHWireWriter()
        var previous: String?
        for option in options {
            guard !option.name.isEmpty else { throw .invalidOption("a \(kind) has an empty name") }
            guard option.name != previous else { throw .invalidOption("the \(kind) \(option.name) is given twice") }
            previous = option.name
            writer.writeString(option.name)
            writer.writeString(option.data)
        }
        return writer.bytes
    }

    private static func decode(_ bytes: [UInt8], _ kind: String) throws(OpenSSHError) -> [Option] {
        var reader = SSHWireReader(bytes, what: "certificate")
        var options: [Option] = []
        while !reader.isAtEnd {
            let option = Option(name: try reader.readText("\(kind) name"), data: try reader.readString())
            guard !options.contains(where: { $0.name == option.name }) else {
                throw .malformed("certificate", "the \(kind) \(option.name) appears twice")
            }
            options.append(option)
        }
        return options
    }
}
