import Foundation

/// W3C Trace Context (`traceparent` and optional `tracestate`), carried by every message so a
/// trace follows an operation from the CLI through the gateway to a driver and back.
///
/// `traceparent` is `00-<32 hex trace id>-<16 hex span id>-<2 hex flags>`, lowercase. All-zero
/// ids and version `ff` are invalid. A higher version is read for its first four fields (as the
/// W3C recommendation asks) and written back as version `00`.
package struct TraceContext: Sendable, Hashable {
    /// 16 bytes as 32 lowercase hex characters; never all zero.
    package let traceID: String
    /// 8 bytes as 16 lowercase hex characters; never all zero.
    package let spanID: String
    /// Trace flags; bit 0 is "sampled".
    package let flags: UInt8
    /// Vendor-specific `tracestate`, passed through (surrounding blanks trimmed); nil when absent
    /// or empty.
    package let traceState: String?

    /// Parses a `traceparent` header (and an optional `tracestate`); nil if it is invalid.
    package init?(traceparent: String, tracestate: String? = nil) {
        let bytes = Array(traceparent.utf8)
        guard bytes.count >= 55,
            bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
            (0..<55).allSatisfy({ index in index == 2 || index == 35 || index == 52 || Self.isLowerHex(bytes[index]) })
        else { return nil }
        let version = String(decoding: bytes[0..<2], as: UTF8.self)
        guard version != "ff" else { return nil }
        // Version 00 is exactly 55 characters; a future version may append "-…" fields.
        if version == "00" {
            guard bytes.count == 55 else { return nil }
        } else if bytes.count > 55 {
            guard bytes[55] == UInt8(ascii: "-") else { return nil }
        }
        let traceID = String(decoding: bytes[3..<35], as: UTF8.self)
        let spanID = String(decoding: bytes[36..<52], as: UTF8.self)
        guard let flags = UInt8(String(decoding: bytes[53..<55], as: UTF8.self), radix: 16) else { return nil }
        guard !Self.isAllZero(traceID), !Self.isAllZero(spanID) else { return nil }
        self.init(validTraceID: traceID, spanID: spanID, flags: flags, traceState: tracestate)
    }

    private init(validTraceID traceID: String, spanID: String, flags: UInt8, traceState: String?) {
        self.traceID = traceID
        self.spanID = spanID
        self.flags = flags
        let trimmed = traceState?.trimmingCharacters(in: .whitespaces)
        self.traceState = (trimmed?.isEmpty ?? true) ? nil : trimmed
    }

    /// A new trace (fresh random trace and span ids), e.g. for a request that arrived without one.
    package static func newTrace(sampled: Bool = true) -> TraceContext {
        TraceContext(
            validTraceID: randomHex(bytes: 16), spanID: randomHex(bytes: 8), flags: sampled ? 1 : 0,
            traceState: nil)
    }

    /// A child span of this one: same trace id, flags and tracestate, a new random span id.
    package func child() -> TraceContext {
        TraceContext(validTraceID: traceID, spanID: Self.randomHex(bytes: 8), flags: flags, traceState: traceState)
    }

    /// Whether the sampled flag is set.
    package var isSampled: Bool { flags & 1 == 1 }

    /// The `traceparent` header value (always version `00`).
    package var traceparent: String {
        let hexFlags = String(flags, radix: 16)
        return "00-" + traceID + "-" + spanID + (hexFlags.count == 1 ? "-0" : "-") + hexFlags
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    private static func isAllZero(_ hex: String) -> Bool {
        hex.utf8.allSatisfy { $0 == UInt8(ascii: "0") }
    }

    /// `count` (8 or 16) random bytes as lowercase hex, not all zero.
    private static func randomHex(bytes count: Int) -> String {
        var generator = IdentifierRandom()
        while true {
            let hex = generator.hex(words: count / 8)
            if !isAllZero(hex) { return hex }
        }
    }
}
