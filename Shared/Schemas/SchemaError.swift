/// Why a message could not be read (or written). A consumer dead-letters the message with
/// ``reason`` as a header and ``description`` in its log.
package enum SchemaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The body is not JSON, or not a JSON object.
    case malformedJSON(detail: String)
    /// `schemaVersion` is missing, not a string, or not `MAJOR.MINOR`.
    case invalidSchemaVersion(found: String?)
    /// The message was written for a major version this build does not read.
    case unsupportedMajorVersion(found: SchemaVersion, supported: SchemaVersion)
    /// `kind` is missing, not a string, or names no kind of this major version.
    case unknownKind(String?)
    /// The kind is known but of another category than the caller expects (e.g. an event on a
    /// command queue).
    case unexpectedCategory(kind: MessageKind, expected: MessageCategory)
    /// A field is missing, has the wrong type or an invalid value; `path` is like
    /// `payload.machines[0].machineId`.
    case invalidField(path: String, detail: String)
    /// A value could not be encoded (e.g. a non-finite number in a ``JSONValue``).
    case encodingFailed(detail: String)

    /// A short, stable, machine-readable reason, for the dead-letter header and metrics labels.
    package var reason: String {
        switch self {
        case .malformedJSON: "malformed-json"
        case .invalidSchemaVersion: "invalid-schema-version"
        case .unsupportedMajorVersion: "unsupported-major-version"
        case .unknownKind: "unknown-kind"
        case .unexpectedCategory: "unexpected-category"
        case .invalidField: "invalid-field"
        case .encodingFailed: "encoding-failed"
        }
    }

    package var description: String {
        switch self {
        case .malformedJSON(let detail):
            "message body is not a JSON object: \(detail)"
        case .invalidSchemaVersion(let found):
            found.map { "schemaVersion \"\($0)\" is not of the form MAJOR.MINOR (e.g. \"1.0\")" }
                ?? "the message has no schemaVersion string such as \"1.0\""
        case .unsupportedMajorVersion(let found, let supported):
            "schema version \(found) is not supported: this build reads \(supported.major).x "
                + "(writes \(supported)); upgrade the consumer or send a \(supported.major).x message"
        case .unknownKind(let kind):
            kind.map { "unknown message kind \"\($0)\" for schema \(SchemaVersion.current.major).x" }
                ?? "the message has no kind string such as \"machine.create\""
        case .unexpectedCategory(let kind, let expected):
            "message kind \"\(kind.rawValue)\" is a \(kind.category.rawValue), expected a \(expected.rawValue)"
        case .invalidField(let path, let detail):
            "invalid field \(path.isEmpty ? "(root)" : path): \(detail)"
        case .encodingFailed(let detail):
            "message could not be encoded: \(detail)"
        }
    }
}
