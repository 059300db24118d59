import Foundation
package import Logging

/// Records every log line (level, message and all metadata, rendered as text) in memory, so tests can
/// assert what was — and was not — logged.
///
/// `@unchecked Sendable`: `lines` is read and written only while `lock` is held.
package final class LogCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []

    package init() {}

    /// A logger at `.trace` that writes here.
    package var logger: Logger {
        Logger(label: "paz.test") { _ in Handler(capture: self) }
    }

    /// Everything logged so far, one line per event.
    package var text: String {
        lock.lock()
        defer { lock.unlock() }
        return lines.joined(separator: "\n")
    }

    package var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return lines.count
    }

    fileprivate func append(_ line: String) {
        lock.lock()
        defer { lock.unlock() }
        lines.append(line)
    }

    private struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            capture.append("\(event.level) \(event.message) \(rendered)")
        }
    }
}
