package import Logging

/// The rule that keeps secrets out of log lines: metadata under a sensitive key is printed as
/// `<redacted>` by the kit's log handlers, however deeply it is nested.
///
/// A key is sensitive when, lowercased and without `_`, `-` and `.`, it contains one of
/// `password`, `passwd`, `secret`, `token`, `authorization`, `privatekey`, `apikey`, `credential`, `cookie`.
package enum LogRedaction {
    /// What a redacted value prints as.
    package static let placeholder = "<redacted>"

    private static let sensitiveWords: [[UInt8]] = [
        "password", "passwd", "secret", "token", "authorization", "privatekey", "apikey", "credential", "cookie",
    ].map { Array($0.utf8) }

    /// Whether values under `key` must never be printed: it holds one of the sensitive words, ignoring
    /// ASCII case and the separators `_`, `-` and `.` (`api_key`, `X-Auth-Token`). Runs for every
    /// metadata key of every log line, so it works on the bytes (no lowercased copy, no String search).
    package static func isSensitive(key: String) -> Bool {
        var normalized: [UInt8] = []
        normalized.reserveCapacity(key.utf8.count)
        for byte in key.utf8 where byte != UInt8(ascii: "_") && byte != UInt8(ascii: "-") && byte != UInt8(ascii: ".") {
            normalized.append(byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte | 0x20 : byte)
        }
        return sensitiveWords.contains { word in
            guard normalized.count >= word.count else { return false }
            return (0...(normalized.count - word.count)).contains { start in
                normalized[start] == word[0] && normalized[start..<(start + word.count)].elementsEqual(word)
            }
        }
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
