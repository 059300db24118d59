/// The version of the message schemas, `MAJOR.MINOR` (e.g. `"1.0"`).
///
/// Readers accept every minor of their major (fields added in a newer minor are ignored, fields
/// missing from an older minor are optional); a different major is rejected with
/// ``SchemaError/unsupportedMajorVersion(found:supported:)``.
package struct SchemaVersion: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    package let major: Int
    package let minor: Int

    package init(major: Int, minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// The version this build writes.
    package static let current = SchemaVersion(major: 1, minor: 0)

    /// Parses `"MAJOR.MINOR"` (non-negative decimal integers of at most 9 digits, no sign); nil otherwise.
    package init?(_ text: String) {
        var parts = (major: 0, minor: 0)
        var digits = 0
        var sawDot = false
        for byte in text.utf8 {
            if byte == UInt8(ascii: "."), !sawDot, digits > 0 {
                sawDot = true
                digits = 0
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 9 else { return nil }
            digits += 1
            let digit = Int(byte - UInt8(ascii: "0"))
            if sawDot { parts.minor = parts.minor * 10 + digit } else { parts.major = parts.major * 10 + digit }
        }
        guard sawDot, digits > 0 else { return nil }
        self.init(major: parts.major, minor: parts.minor)
    }

    /// Why `text` was refused as a schema version.
    static func notAVersion(_ text: String) -> String {
        "schemaVersion \"\(text)\" is not of the form MAJOR.MINOR"
    }

    /// Whether a reader of this version can read a message written with `other` (same major).
    package func canRead(_ other: SchemaVersion) -> Bool {
        major == other.major
    }

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let version = SchemaVersion(text) else {
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: Self.notAVersion(text))
        }
        self = version
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    package var description: String { self == .current ? Self.currentText : "\(major).\(minor)" }

    /// The current version's text, made once: every message written carries it.
    private static let currentText = "\(current.major).\(current.minor)"

    package static func < (lhs: SchemaVersion, rhs: SchemaVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }
}
