/// A RESP2 reply from Redis.
package enum RedisValue: Sendable, Hashable {
    /// A bulk string: binary-safe bytes.
    case bulk([UInt8])
    /// An integer reply.
    case integer(Int64)
    /// An array reply (possibly nested).
    case array([RedisValue])
    /// A null bulk string or null array (missing key, `SET … NX` that did not set, timeout of a BLOCK read).
    case null
    /// A status reply such as `OK` or `PONG`.
    case status(String)
    /// An error reply such as `ERR …`, `WRONGTYPE …`, `NOSCRIPT …`. In a pipeline it is one value among
    /// the others; ``RedisClient/command(_:idempotent:)`` throws it as ``RedisError/server(_:)``.
    case error(String)

    /// Bulk strings decoded as UTF-8 (invalid sequences replaced), and status replies; nil otherwise.
    package var string: String? {
        switch self {
        case .bulk(let bytes): String(decoding: bytes, as: UTF8.self)
        case .status(let text): text
        default: nil
        }
    }

    /// The bytes of a bulk string (or a status reply); nil otherwise.
    package var bytes: [UInt8]? {
        switch self {
        case .bulk(let bytes): bytes
        case .status(let text): Array(text.utf8)
        default: nil
        }
    }

    /// An integer reply, or a bulk string holding a decimal integer; nil otherwise.
    package var integer: Int64? {
        switch self {
        case .integer(let value): value
        case .bulk: string.flatMap { Int64($0) }
        default: nil
        }
    }

    /// A bulk string holding a number (ZSCORE, INCRBYFLOAT) or an integer reply; nil otherwise.
    package var double: Double? {
        switch self {
        case .integer(let value): Double(value)
        case .bulk: string.flatMap { Double($0) }
        default: nil
        }
    }

    /// The elements of an array reply; nil otherwise.
    package var array: [RedisValue]? {
        if case .array(let elements) = self { elements } else { nil }
    }

    /// True for a null reply.
    package var isNull: Bool {
        if case .null = self { true } else { false }
    }

    /// The message of an error reply; nil otherwise.
    package var errorMessage: String? {
        if case .error(let message) = self { message } else { nil }
    }
}

/// One argument of a Redis command: binary-safe bytes. Strings and integers convert implicitly
/// (`["SET", "key", "value"]`), bytes through ``init(bytes:)``.
package struct RedisArgument: Sendable, Hashable, ExpressibleByStringInterpolation, ExpressibleByIntegerLiteral {
    /// The exact bytes sent to Redis.
    package let bytes: [UInt8]

    /// The UTF-8 bytes of `string`.
    package init(_ string: String) { bytes = Array(string.utf8) }
    /// Raw bytes, sent as they are (NUL bytes included).
    package init(bytes: [UInt8]) { self.bytes = bytes }
    /// The decimal form of `integer`.
    package init(_ integer: Int) { bytes = Array(String(integer).utf8) }
    /// The decimal form of `double`; infinities become `+inf` / `-inf` as Redis expects.
    package init(_ double: Double) {
        if double.isInfinite {
            bytes = Array((double > 0 ? "+inf" : "-inf").utf8)
        } else {
            bytes = Array(String(double).utf8)
        }
    }

    package init(stringLiteral value: String) { self.init(value) }
    package init(integerLiteral value: Int) { self.init(value) }
}
