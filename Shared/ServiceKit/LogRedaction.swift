package import Logging

/// The rule that keeps secrets out of log lines: metadata under a sensitive key is printed as
/// `<redacted>` by the kit's log handlers, however deeply it is nested.
///
/// A key is sensitive when, lowercased and without `_`, `-` and `.`, it contains one of
/// `password`, `passwd`, `secret`, `token`, `authorization`, `privatekey`, `apikey`, `credential`, `cookie`.
package enum LogRedaction {
    /// What a redacted value prints as.
    package static let placeholder = "<redacted>"

    private static let sensitiveWords = [
        "password", "passwd", "secret", "token", "authorization", "privatekey", "apikey", "credential", "cookie",
    ]

    /// Whether values under `key` must never be printed.
    package static func isSensitive(key: String) -> Bool {
        let normalized = String(key.lowercased().filter { $0 != "_" && $0 != "-" && $0 != "." })
        return sensitiveWords.contains { normalized.contains($0) }
    }

    /// `metadata` with every value under a sensitive key (at any depth) replaced by the placeholder.
    package static func redact(_ metadata: Logger.Metadata) -> Logger.Metadata {
        metadata.reduce(into: [:]) { result, entry in
            result[entry.key] = isSensitive(key: entry.key) ? .string(placeholder) : redact(entry.value)
        }
    }

    private static func redact(_ value: Logger.MetadataValue) -> Logger.MetadataValue {
        switch value {
        case .dictionary(let nested): .dictionary(redact(nested))
        case .array(let items): .array(items.map(redact))
        case .string, .stringConvertible: value
        }
    }
}
