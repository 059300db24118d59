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

    /// Parses `"MAJOR.MINOR"` (non-negative decimal integers, no sign, no leading `+`); nil otherwise.
    package init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2,
            parts.allSatisfy({ !$0.isEmpty && $0.count <= 9 && $0.allSatisfy { $0.isASCII && $0.isNumber } }),
            let major = Int(parts[0]), let minor = Int(parts[1])
        else { return nil }
        self.init(major: major, minor: minor)
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
                in: container, debugDescription: "schemaVersion \"\(text)\" is not of the form MAJOR.MINOR")
        }
        self = version
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }

    package var description: String { "\(major).\(minor)" }

    package static func < (lhs: SchemaVersion, rhs: SchemaVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }
}
