import Foundation
import PazSchemas
package import Logging
import Synchronization

/// Where the kit's log handlers write finished lines (each line ends with `\n`).
package struct LogOutput: Sendable {
    private let writeLine: @Sendable (String) -> Void

    /// An output that hands each finished line to `write` (tests capture lines this way).
    package init(_ write: @escaping @Sendable (String) -> Void) { writeLine = write }

    /// Standard output; lines from concurrent loggers never interleave.
    package static let standardOutput = LogOutput(fileHandle: .standardOutput)
    /// Standard error; lines from concurrent loggers never interleave.
    package static let standardError = LogOutput(fileHandle: .standardError)

    private init(fileHandle: FileHandle) {
        let lock = Mutex(())
        self.init { line in
            // A closed stdout/stderr must not crash the service: the line is dropped.
            lock.withLock { _ in try? fileHandle.write(contentsOf: Data(line.utf8)) }
        }
    }

    func write(_ line: String) { writeLine(line) }
}

/// What the kit's handlers have in common: level, handler metadata, metadata provider, redaction.
private struct HandlerState: Sendable {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    /// Handler metadata, then the provider's, then the call's (later wins), redacted.
    func mergedMetadata(_ event: LogEvent) -> Logger.Metadata {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        return LogRedaction.redact(merged)
    }
}

/// Writes one JSON object per line:
/// `{"timestamp":"2026-11-22T04:30:00.123Z","level":"info","label":"gateway","message":"…","metadata":{…},"source":"PazAMQP"}`
/// (plus `"error"` when the event carries one). Metadata under sensitive keys is `"<redacted>"` (``LogRedaction``).
package struct JSONLogHandler: LogHandler {
    package let label: String
    private let output: LogOutput
    private var state: HandlerState

    /// A handler for `label` writing to `output` (standard output by default).
    package init(label: String, level: Logger.Level = .info, output: LogOutput = .standardOutput,
                 metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.output = output
        self.state = HandlerState(logLevel: level, metadataProvider: metadataProvider)
    }

    package var logLevel: Logger.Level {
        get { state.logLevel }
        set { state.logLevel = newValue }
    }
    package var metadata: Logger.Metadata {
        get { state.metadata }
        set { state.metadata = newValue }
    }
    package var metadataProvider: Logger.MetadataProvider? {
        get { state.metadataProvider }
        set { state.metadataProvider = newValue }
    }
    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { state.metadata[key] }
        set { state.metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var line = "{\"timestamp\":"
        JSONText.appendString(logTimestamp(), to: &line)
        line += ",\"level\":"
        JSONText.appendString(event.level.rawValue, to: &line)
        line += ",\"label\":"
        JSONText.appendString(label, to: &line)
        line += ",\"message\":"
        JSONText.appendString(event.message.description, to: &line)
        line += ",\"metadata\":"
        JSONText.appendObject(state.mergedMetadata(event), to: &line)
        line += ",\"source\":"
        JSONText.appendString(event.source, to: &line)
        if let error = event.error {
            line += ",\"error\":"
            JSONText.appendString(String(describing: error), to: &line)
        }
        line += "}\n"
        output.write(line)
    }

}

/// Writes readable lines for development:
/// `2026-11-22T04:30:00.123Z info gateway: message key=value [PazAMQP]`, redacting like ``JSONLogHandler``.
package struct TextLogHandler: LogHandler {
    package let label: String
    private let output: LogOutput
    private var state: HandlerState

    /// A handler for `label` writing to `output` (standard error by default).
    package init(label: String, level: Logger.Level = .info, output: LogOutput = .standardError,
                 metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.output = output
        self.state = HandlerState(logLevel: level, metadataProvider: metadataProvider)
    }

    package var logLevel: Logger.Level {
        get { state.logLevel }
        set { state.logLevel = newValue }
    }
    package var metadata: Logger.Metadata {
        get { state.metadata }
        set { state.metadata = newValue }
    }
    package var metadataProvider: Logger.MetadataProvider? {
        get { state.metadataProvider }
        set { state.metadataProvider = newValue }
    }
    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { state.metadata[key] }
        set { state.metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var line = "\(logTimestamp()) \(event.level) \(label): \(event.message)"
        let metadata = state.mergedMetadata(event)
        for (key, value) in metadata.sorted(by: { $0.key < $1.key }) {
            line += " \(key)=\(value)"
        }
        if let error = event.error { line += " error=\(error)" }
        line += " [\(event.source)]\n"
        output.write(line)
    }
}

/// UTC ISO 8601 with milliseconds: `2026-11-22T04:30:00.123Z` (not Foundation's format style, whose
/// calendar loads ICU: megabytes resident in every service). Truncated to the millisecond, as that
/// style wrote it: a line never carries a time later than when it was written.
private func logTimestamp() -> String {
    let milliseconds = (Date().timeIntervalSince1970 * 1000).rounded(.down)
    return Timestamp.format(Date(timeIntervalSince1970: milliseconds / 1000))
}

/// Minimal JSON text writer for log lines (RFC 8259 string escaping; metadata values are strings,
/// arrays or objects, as swift-log's `Logger.MetadataValue`).
private enum JSONText {
    static func appendString(_ string: String, to out: inout String) {
        out.append("\"")
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out.append("\\\"")
            case "\\": out.append("\\\\")
            case "\n": out.append("\\n")
            case "\r": out.append("\\r")
            case "\t": out.append("\\t")
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out.append("\\u00" + (hex.count == 1 ? "0" : "") + hex)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out.append("\"")
    }

    static func appendObject(_ metadata: Logger.Metadata, to out: inout String) {
        out.append("{")
        for (index, entry) in metadata.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out.append(",") }
            appendString(entry.key, to: &out)
            out.append(":")
            appendValue(entry.value, to: &out)
        }
        out.append("}")
    }

    static func appendValue(_ value: Logger.MetadataValue, to out: inout String) {
        switch value {
        case .string(let string): appendString(string, to: &out)
        case .stringConvertible(let convertible): appendString(convertible.description, to: &out)
        case .dictionary(let nested): appendObject(nested, to: &out)
        case .array(let items):
            out.append("[")
            for (index, item) in items.enumerated() {
                if index > 0 { out.append(",") }
                appendValue(item, to: &out)
            }
            out.append("]")
        }
    }
}
