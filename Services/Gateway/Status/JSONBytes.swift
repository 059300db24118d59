import Foundation

/// A JSON text written straight into bytes, for answers served from prepared parts (``StatusView``).
/// Callers write the structure; this writes the scalars correctly (escaped strings, numbers, dates).
struct JSONBytes {
    private(set) var bytes: [UInt8] = []

    init(capacity: Int = 256) {
        bytes.reserveCapacity(capacity)
    }

    /// Structural text written as it is (`{"key":`, `,`, `]`): ASCII chosen by the caller.
    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// Bytes written as they are (a prepared part).
    mutating func raw(_ part: [UInt8]) {
        bytes.append(contentsOf: part)
    }

    /// A JSON string: quoted, with `"`, `\` and control characters escaped.
    mutating func string(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x00..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: Array("\\u00".utf8))
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0x0F)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// An integer.
    mutating func integer(_ value: Int) {
        if value < 0 { bytes.append(UInt8(ascii: "-")) }
        digits(value.magnitude, minimumWidth: 1)
    }

    /// A non-negative number of seconds with millisecond precision (`12.345`); negatives are 0.
    mutating func seconds(_ value: Double) {
        let milliseconds = UInt(max(0, (value * 1000).rounded()))
        digits(milliseconds / 1000, minimumWidth: 1)
        bytes.append(UInt8(ascii: "."))
        digits(milliseconds % 1000, minimumWidth: 3)
    }

    /// `true` or `false`.
    mutating func bool(_ value: Bool) {
        if value { raw("true") } else { raw("false") }
    }

    /// `value` in decimal, left-padded with zeros to `minimumWidth`.
    private mutating func digits(_ value: UInt, minimumWidth: Int) {
        // Written backwards into a fixed buffer (20 digits hold any UInt), then appended in one go.
        var buffer: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &buffer) { scratch in
            var position = scratch.count
            var rest = value
            repeat {
                position -= 1
                scratch[position] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
            } while rest > 0
            while scratch.count - position < minimumWidth && position > 0 {
                position -= 1
                scratch[position] = UInt8(ascii: "0")
            }
            bytes.append(contentsOf: scratch[position...])
        }
    }
}
