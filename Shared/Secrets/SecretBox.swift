import Crypto
package import Foundation

/// Encrypts secrets at rest (provider credentials, private keys, CA keys) with AES-256-GCM.
///
/// A sealed value is `v1:` + base64(nonce ‖ ciphertext ‖ tag). The `context` (e.g. a tenant and
/// machine id) is bound as authenticated data, so a blob copied under another key fails to open.
package struct SecretBox: Sendable {
    private let masterKey: MasterKey

    /// A box using `masterKey` (32 bytes).
    package init(masterKey: MasterKey) {
        self.masterKey = masterKey
    }

    private var key: SymmetricKey { SymmetricKey(data: masterKey.bytes) }

    /// Seals `plaintext` for `context`.
    package func seal(_ plaintext: [UInt8], context: String) throws(SecretError) -> String {
        do {
            let box = try AES.GCM.seal(plaintext, using: key, authenticating: Array(context.utf8))
            guard let combined = box.combined else { throw SecretError.sealFailed("no combined form") }
            return "v1:" + combined.base64EncodedString()
        } catch let error as SecretError {
            throw error
        } catch {
            throw .sealFailed("\(error)")
        }
    }

    /// Seals UTF-8 text for `context`.
    package func seal(_ text: String, context: String) throws(SecretError) -> String {
        try seal(Array(text.utf8), context: context)
    }

    /// Opens a value sealed for `context`; a wrong key, a wrong context or a tampered blob throws.
    package func open(_ sealed: String, context: String) throws(SecretError) -> [UInt8] {
        guard sealed.hasPrefix("v1:"), let combined = Data(base64Encoded: String(sealed.dropFirst(3))) else {
            throw .malformed
        }
        do {
            let box = try AES.GCM.SealedBox(combined: combined)
            return Array(try AES.GCM.open(box, using: key, authenticating: Array(context.utf8)))
        } catch {
            throw .openFailed(context: context)
        }
    }

    /// Opens a value sealed from UTF-8 text.
    package func openText(_ sealed: String, context: String) throws(SecretError) -> String {
        String(decoding: try open(sealed, context: context), as: UTF8.self)
    }
}

/// The 32-byte key every secret at rest is sealed with. Never logged (its description is redacted).
package struct MasterKey: Sendable, CustomStringConvertible {
    fileprivate let bytes: [UInt8]

    /// Wraps 32 raw bytes.
    package init(bytes: [UInt8]) throws(SecretError) {
        guard bytes.count == 32 else { throw .badMasterKey("it has \(bytes.count) bytes, 32 are needed") }
        self.bytes = bytes
    }

    /// Reads the key from `PAZ_MASTER_KEY` (base64 of 32 bytes) or from the file named by
    /// `PAZ_MASTER_KEY_FILE` (32 raw bytes, or their base64 text).
    package static func fromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws(SecretError) -> MasterKey {
        if let text = environment["PAZ_MASTER_KEY"] {
            return try fromBase64(text, source: "PAZ_MASTER_KEY")
        }
        guard let path = environment["PAZ_MASTER_KEY_FILE"] else {
            throw .badMasterKey("set PAZ_MASTER_KEY_FILE to a file with 32 random bytes (or PAZ_MASTER_KEY to their base64)")
        }
        return try fromFile(URL(fileURLWithPath: path))
    }

    /// Reads a key file: 32 raw bytes, or base64 text of them.
    package static func fromFile(_ url: URL) throws(SecretError) -> MasterKey {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw .badMasterKey("cannot read \(url.path)")
        }
        if data.count == 32 { return try MasterKey(bytes: Array(data)) }
        return try fromBase64(String(decoding: data, as: UTF8.self), source: url.path)
    }

    /// Creates a new random key file with mode 0600 (refuses to overwrite one).
    package static func create(at url: URL) throws(SecretError) -> MasterKey {
        let key = try MasterKey(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        let text = Data(key.bytes).base64EncodedString() + "\n"
        guard FileManager.default.createFile(
            atPath: url.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]
        ) else {
            throw .badMasterKey("cannot create \(url.path)")
        }
        return key
    }

    private static func fromBase64(_ text: String, source: String) throws(SecretError) -> MasterKey {
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw .badMasterKey("\(source) is not base64")
        }
        return try MasterKey(bytes: Array(data))
    }

    package var description: String { "MasterKey(<redacted>)" }
}

/// Why a secret could not be sealed or opened.
package enum SecretError: Error, Equatable, CustomStringConvertible {
    case badMasterKey(String)
    case sealFailed(String)
    case malformed
    case openFailed(context: String)

    package var description: String {
        switch self {
        case .badMasterKey(let reason): "master key unusable: \(reason)"
        case .sealFailed(let reason): "could not encrypt a secret: \(reason)"
        case .malformed: "stored secret is not in the v1 format; it was not written by this version"
        case .openFailed(let context):
            "could not decrypt the secret for \(context): wrong master key, or the stored value was altered"
        }
    }
}
