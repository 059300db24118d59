package import Foundation
import PazJSON

/// The one place messages are turned into bytes and back, applying the compatibility rules:
///
/// - unknown fields are ignored;
/// - every minor of the supported major is read (optional fields missing in older minors are nil);
/// - another major is rejected with ``SchemaError/unsupportedMajorVersion(found:supported:)``
///   before anything else is decoded;
/// - an unknown kind is rejected with ``SchemaError/unknownKind(_:)``;
/// - bytes that are not a JSON object are rejected with ``SchemaError/malformedJSON(detail:)``.
///
/// Output is canonical: keys sorted, `/` not escaped, dates as ISO 8601 UTC with milliseconds.
package enum MessageCodec {
    /// Output layout.
    package enum Style: Sendable {
        /// One line; what goes on the wire.
        case compact
        /// Indented; for fixtures and docs. Readers accept both.
        case pretty
    }

    /// Reads any message, dispatching on its `kind`.
    package static func decode(_ data: Data) throws(SchemaError) -> Message {
        let (document, kind) = try document([UInt8](data))
        switch kind.category {
        case .command: return .command(try decodeEnvelope(CommandPayload.self, from: document))
        case .reply: return .reply(try decodeEnvelope(ReplyPayload.self, from: document))
        case .event: return .event(try decodeEnvelope(EventPayload.self, from: document))
        }
    }

    /// Reads a message that must be of `Payload`'s category (e.g. on a command queue).
    package static func decode<Payload: MessagePayload>(
        _: Payload.Type, from data: Data
    ) throws(SchemaError) -> Envelope<Payload> {
        try decode(Payload.self, from: [UInt8](data))
    }

    /// Reads a message that must be of `Payload`'s category from a delivery's bytes.
    package static func decode<Payload: MessagePayload>(
        _: Payload.Type, from bytes: [UInt8]
    ) throws(SchemaError) -> Envelope<Payload> {
        let (document, kind) = try document(bytes)
        guard kind.category == Payload.category else {
            throw .unexpectedCategory(kind: kind, expected: Payload.category)
        }
        return try decodeEnvelope(Payload.self, from: document)
    }

    /// Writes a message.
    package static func encode<Payload: MessagePayload>(
        _ envelope: Envelope<Payload>, style: Style = .compact
    ) throws(SchemaError) -> Data {
        Data(try encodeBody(envelope, style: style))
    }

    /// Writes a message as a delivery's body.
    package static func encodeBody<Payload: MessagePayload>(
        _ envelope: Envelope<Payload>, style: Style = .compact
    ) throws(SchemaError) -> [UInt8] {
        if envelope.kind.requiresTenant && envelope.tenantId == nil {
            throw .encodingFailed(detail: "\(envelope.kind.rawValue) requires a tenantId")
        }
        return try encodeBytes(envelope, style: style)
    }

    /// Writes any schema value (e.g. a ``DriverAnnouncement`` for the Redis registry) with the
    /// same canonical rules.
    package static func encodeValue<Value: Encodable>(_ value: Value, style: Style = .compact) throws(SchemaError)
        -> Data
    {
        Data(try encodeBytes(value, style: style))
    }

    private static func encodeBytes<Value: Encodable>(_ value: Value, style: Style) throws(SchemaError) -> [UInt8] {
        let compact: [UInt8]
        do {
            compact = try encoder.encode(value)
        } catch {
            throw .encodingFailed(detail: String(describing: error))
        }
        return style == .pretty ? indent(compact) : compact
    }

    /// Reads any schema value written by ``encodeValue(_:style:)``. No version check: use it only
    /// for values stored with their own version (e.g. ``DriverAnnouncement/schemaVersion``).
    package static func decodeValue<Value: Decodable>(_: Value.Type, from data: Data) throws(SchemaError) -> Value {
        do {
            return try decoder.decode(Value.self, from: [UInt8](data))
        } catch {
            throw schemaError(from: error)
        }
    }

    // MARK: - Internals

    /// Indents compact JSON by two spaces per level, `"key": value`, empty `{}` and `[]` kept on
    /// one line. Done here rather than by `JSONEncoder.prettyPrinted` so the fixture layout does not
    /// depend on one Foundation version's pretty printer.
    private static func indent(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 2)
        var depth = 0
        var inString = false
        var escaped = false
        func newline() {
            output.append(UInt8(ascii: "\n"))
            output.append(contentsOf: repeatElement(UInt8(ascii: " "), count: depth * 2))
        }
        for (index, byte) in bytes.enumerated() {
            if inString {
                output.append(byte)
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
                output.append(byte)
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                output.append(byte)
                let next = index + 1 < bytes.count ? bytes[index + 1] : 0
                if next != UInt8(ascii: "}") && next != UInt8(ascii: "]") {
                    depth += 1
                    newline()
                }
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                let previous = index > 0 ? bytes[index - 1] : 0
                if previous != UInt8(ascii: "{") && previous != UInt8(ascii: "[") {
                    depth -= 1
                    newline()
                }
                output.append(byte)
            case UInt8(ascii: ","):
                output.append(byte)
                newline()
            case UInt8(ascii: ":"):
                output.append(contentsOf: [UInt8(ascii: ":"), UInt8(ascii: " ")])
            default:
                output.append(byte)
            }
        }
        return output
    }

    /// The canonical writer: keys sorted, `/` not escaped, dates as ``Timestamp/format(_:)``.
    private static let encoder = JSONBytesEncoder(formatDate: Timestamp.format)

    private static let decoder = JSONBytesDecoder(
        parseDate: Timestamp.parse, dateDescription: Timestamp.shape)

    /// Parses a message once and checks its header (`schemaVersion`, then `kind`), so a message of
    /// another major is never decoded further.
    private static func document(_ bytes: [UInt8]) throws(SchemaError) -> (JSONDocument, MessageKind) {
        let document: JSONDocument
        do {
            document = try JSONDocument(parsing: bytes)
        } catch {
            throw schemaError(from: error)
        }
        guard document.isObject else { throw .malformedJSON(detail: "expected a JSON object") }
        let versionText = document.string(forKey: EnvelopeKey.schemaVersion.stringValue)
        guard let text = versionText, let version = SchemaVersion(text) else {
            throw .invalidSchemaVersion(found: versionText)
        }
        guard SchemaVersion.current.canRead(version) else {
            throw .unsupportedMajorVersion(found: version, supported: .current)
        }
        let kindName = document.string(forKey: EnvelopeKey.kind.stringValue)
        guard let name = kindName, let kind = MessageKind.named(name) else {
            throw .unknownKind(kindName)
        }
        return (document, kind)
    }

    private static func decodeEnvelope<Payload: MessagePayload>(
        _: Payload.Type, from document: JSONDocument
    ) throws(SchemaError) -> Envelope<Payload> {
        let envelope: Envelope<Payload>
        do {
            envelope = try decoder.decode(Envelope<Payload>.self, from: document)
        } catch {
            throw schemaError(from: error)
        }
        if envelope.kind.requiresTenant && envelope.tenantId == nil {
            throw .invalidField(path: "tenantId", detail: "required for \(envelope.kind.rawValue)")
        }
        return envelope
    }

    private static func schemaError(from error: any Error) -> SchemaError {
        guard let error = error as? DecodingError else {
            return .invalidField(path: "", detail: String(describing: error))
        }
        switch error {
        case .dataCorrupted(let context) where context.codingPath.isEmpty:
            let underlying = context.underlyingError.map { " (\(describe($0)))" } ?? ""
            return .malformedJSON(detail: context.debugDescription + underlying)
        case .dataCorrupted(let context):
            return .invalidField(path: path(context.codingPath), detail: context.debugDescription)
        case .keyNotFound(let key, let context):
            return .invalidField(path: path(context.codingPath + [key]), detail: "required field is missing")
        case .valueNotFound(let type, let context):
            return .invalidField(path: path(context.codingPath), detail: "expected \(type), found null")
        case .typeMismatch(let type, let context):
            return .invalidField(
                path: path(context.codingPath), detail: "expected \(type): \(context.debugDescription)")
        @unknown default:
            return .invalidField(path: "", detail: String(describing: error))
        }
    }

    private static func describe(_ error: any Error) -> String {
        let nsError = error as NSError
        return (nsError.userInfo[NSDebugDescriptionErrorKey] as? String) ?? String(describing: error)
    }

    /// `payload.machines[0].machineId` from a coding path.
    private static func path(_ codingPath: [any CodingKey]) -> String {
        var result = ""
        for key in codingPath {
            if let index = key.intValue {
                result += "[\(index)]"
            } else {
                result += result.isEmpty ? key.stringValue : "." + key.stringValue
            }
        }
        return result
    }
}
