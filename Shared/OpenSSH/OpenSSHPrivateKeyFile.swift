import Foundation

// The `openssh-key-v1` private key file (openssh-portable PROTOCOL.key), unencrypted:
//
//     "openssh-key-v1\0", string ciphername "none", string kdfname "none", string kdfoptions "",
//     uint32 1 (number of keys), string public key blob, string private section
//
// The private section is `uint32 checkint, uint32 checkint, string type, <key fields>, string comment`
// padded with 1, 2, 3, … to a multiple of 8 bytes (the "none" cipher's block size).

private let magic = Array("openssh-key-v1".utf8) + [0]
private let beginLine = "-----BEGIN OPENSSH PRIVATE KEY-----"
private let endLine = "-----END OPENSSH PRIVATE KEY-----"
private let blockSize = 8
private let what = "private key file"

extension OpenSSHPrivateKey {
    /// The key as the text of an unencrypted OpenSSH private key file, as `ssh-keygen -N ''` writes it.
    /// Write it with mode 0600: ssh and ssh-keygen refuse key files others can read.
    package func openSSHFile(comment: String = "") -> String {
        var section = SSHWireWriter()
        let checkint = UInt32.random(in: .min ... .max)
        section.writeUInt32(checkint)
        section.writeUInt32(checkint)
        section.writeString(algorithm.name)
        switch algorithm {
        case .ed25519:
            section.writeString(publicKey.keyBytes)
            section.writeString(secret + publicKey.keyBytes)
        case .ecdsaP256:
            publicKey.writeFields(into: &section)
            section.writeMPInt(unsigned: secret)
        }
        section.writeString(comment)
        var pad: UInt8 = 1
        while section.bytes.count % blockSize != 0 {
            section.writeRaw([pad])
            pad += 1
        }

        var file = SSHWireWriter()
        file.writeRaw(magic)
        file.writeString("none")
        file.writeString("none")
        file.writeString([UInt8]())
        file.writeUInt32(1)
        file.writeString(publicKey.blob)
        file.writeString(section.bytes)

        let base64 = Array(Data(file.bytes).base64EncodedString())
        let lines = stride(from: 0, to: base64.count, by: 70).map { String(base64[$0..<min($0 + 70, base64.count)]) }
        return ([beginLine] + lines + [endLine]).joined(separator: "\n") + "\n"
    }

    /// Parses the text of an unencrypted OpenSSH private key file (the comment is ignored).
    package init(openSSHFile text: String) throws(OpenSSHError) {
        self = try Self.parse(openSSHFile: text).key
    }

    /// Parses the text of an unencrypted OpenSSH private key file and returns the key and its comment.
    package static func parse(
        openSSHFile text: String
    ) throws(OpenSSHError) -> (key: OpenSSHPrivateKey, comment: String) {
        var reader = SSHWireReader(try decodeArmor(text), what: what)
        guard try reader.readRaw(magic.count) == magic else {
            throw .malformed(what, "it does not start with openssh-key-v1; only OpenSSH-format keys are supported")
        }
        let cipher = try reader.readText("cipher name")
        let kdf = try reader.readText("KDF name")
        _ = try reader.readString()  // KDF options: empty for "none".
        guard cipher == "none", kdf == "none" else { throw .encryptedPrivateKey(cipher: "\(cipher), \(kdf)") }
        let count = try reader.readUInt32()
        guard count == 1 else { throw .malformed(what, "it holds \(count) keys; exactly one is supported") }
        let publicKey = try OpenSSHPublicKey(blob: try reader.readString())
        let section = try reader.readString()
        try reader.expectEnd()
        let (key, comment) = try parseSection(section)
        guard key.publicKey == publicKey else {
            throw .malformed(what, "its public key does not match its private key")
        }
        return (key, comment)
    }

    private static func parseSection(_ section: [UInt8]) throws(OpenSSHError) -> (OpenSSHPrivateKey, String) {
        guard section.count % blockSize == 0 else {
            throw .malformed(what, "its private section is not padded to \(blockSize) bytes")
        }
        var reader = SSHWireReader(section, what: what)
        guard try reader.readUInt32() == reader.readUInt32() else {
            throw .malformed(what, "its check numbers differ (corrupt, or encrypted with a passphrase)")
        }
        let algorithm = try OpenSSHKeyAlgorithm(name: try reader.readText("key type"))
        let key: OpenSSHPrivateKey
        switch algorithm {
        case .ed25519:
            let publicBytes = try reader.readString()
            let pair = try reader.readString()
            guard pair.count == 64, Array(pair[32...]) == publicBytes else {
                throw .malformed(what, "its Ed25519 private key is not the 64-byte seed and public key")
            }
            key = try OpenSSHPrivateKey(algorithm: algorithm, secret: Array(pair[..<32]))
            guard key.publicKey.keyBytes == publicBytes else {
                throw .malformed(what, "its Ed25519 public key does not match the private key")
            }
        case .ecdsaP256:
            let publicKey = try OpenSSHPublicKey(reading: &reader, algorithm: algorithm)
            let scalar = try reader.readMPInt(unsignedWidth: 32, field: "scalar")
            key = try OpenSSHPrivateKey(algorithm: algorithm, secret: scalar)
            guard key.publicKey == publicKey else {
                throw .malformed(what, "its ECDSA public point does not match the private scalar")
            }
        }
        let comment = try reader.readText("comment")
        let padding = reader.remaining
        guard padding.count < blockSize, padding.enumerated().allSatisfy({ Int($1) == $0 + 1 }) else {
            throw .malformed(what, "its padding is wrong")
        }
        return (key, comment)
    }

    /// The bytes between the BEGIN and END lines.
    private static func decodeArmor(_ text: String) throws(OpenSSHError) -> [UInt8] {
        let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let begin = lines.firstIndex(of: beginLine),
              let end = lines[begin...].firstIndex(of: endLine)
        else {
            throw .malformed(
                what, "expected \(beginLine) … \(endLine) (convert other formats with ssh-keygen -p -f FILE)"
            )
        }
        guard let data = Data(base64Encoded: lines[(begin + 1)..<end].joined()) else { throw .invalidBase64(what) }
        return Array(data)
    }
}
