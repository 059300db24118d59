import Crypto
import Foundation

/// API tokens: random, shown once, stored only as SHA-256 hashes.
package enum APIToken {
    /// A new token: `pazt_` + 43 base64url characters (256 random bits), as openapi.yaml documents.
    package static func generate() -> String {
        let bytes = SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
        let text = bytes.base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
        return "pazt_" + text
    }

    /// The lowercase hex SHA-256 of `token`: what is stored and looked up.
    package static func hash(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined()
    }
}
