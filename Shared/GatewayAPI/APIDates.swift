package import Foundation
package import OpenAPIRuntime
import PazSchemas

/// The API's `date-time` values: written in UTC whole seconds (`2026-11-22T04:25:00Z`, what
/// ``PazSchemas/Timestamp/formatSeconds(_:)`` writes), read with or without a fraction and with any
/// offset. The runtime's default transcoder goes through ICU under a lock on Linux; this one does
/// neither, and writes the same text.
package struct APIDateTranscoder: DateTranscoder {
    package init() {}

    package func encode(_ date: Date) throws -> String {
        Timestamp.formatSeconds(date)
    }

    package func decode(_ text: String) throws -> Date {
        guard let date = Timestamp.parse(text) else {
            throw DecodingError.dataCorrupted(
                .init(codingPath: [], debugDescription: "\"\(text)\" is not an RFC 3339 date-time like 2026-11-22T04:25:00Z"))
        }
        return date
    }
}

extension Configuration {
    /// What the gateway and its clients encode and decode with.
    package static let gatewayAPI = Configuration(dateTranscoder: APIDateTranscoder())
}
