/// Reading and writing JSON's text forms: string escapes and numbers.
enum JSONText {
    /// The value of one hex digit, or nil.
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `text` as a JSON string: `"` and `\` escaped, control characters as `\b \f \n \r \t`
    /// or `\u00xx`, `/` and everything else as is (Foundation's `.withoutEscapingSlashes` output).
    static func appendString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if runStart < index { output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index])) }
                runStart = index + 1
                output.append(UInt8(ascii: "\\"))
                switch byte {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"): output.append(byte)
                case 0x08: output.append(UInt8(ascii: "b"))
                case 0x0C: output.append(UInt8(ascii: "f"))
                case 0x0A: output.append(UInt8(ascii: "n"))
                case 0x0D: output.append(UInt8(ascii: "r"))
                case 0x09: output.append(UInt8(ascii: "t"))
                default:
                    output.append(contentsOf: [UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                               hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
                }
            }
            if runStart < utf8.count { output.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
        }
        output.append(UInt8(ascii: "\""))
    }

    /// Why a string's bytes could not be read.
    enum StringProblem: Error {
        case invalidUTF8
        case unpairedSurrogate
    }

    /// The text of a string entry's raw bytes (between the quotes; escapes already checked by the parser).
    static func string(_ raw: ArraySlice<UInt8>, escaped: Bool, nonASCII: Bool) throws(StringProblem) -> String {
        if !escaped {
            if !nonASCII { return String(decoding: raw, as: UTF8.self) }
            guard let text = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8 }
            return text
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.count)
        var index = raw.startIndex
        while index < raw.endIndex {
            let byte = raw[index]
            guard byte == UInt8(ascii: "\\") else {
                bytes.append(byte)
                index += 1
                continue
            }
            let code = raw[index + 1]
            index += 2
            switch code {
            case UInt8(ascii: "b"): bytes.append(0x08)
            case UInt8(ascii: "f"): bytes.append(0x0C)
            case UInt8(ascii: "n"): bytes.append(0x0A)
            case UInt8(ascii: "r"): bytes.append(0x0D)
            case UInt8(ascii: "t"): bytes.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = hex4(raw, at: index)
                index += 4
                if (0xD800...0xDBFF).contains(scalar) {
                    // A high surrogate must be followed by an escaped low one.
                    guard index + 5 < raw.endIndex, raw[index] == UInt8(ascii: "\\"), raw[index + 1] == UInt8(ascii: "u")
                    else { throw .unpairedSurrogate }
                    let low = hex4(raw, at: index + 2)
                    guard (0xDC00...0xDFFF).contains(low) else { throw .unpairedSurrogate }
                    index += 6
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                } else if (0xDC00...0xDFFF).contains(scalar) {
                    throw .unpairedSurrogate
                }
                bytes.append(contentsOf: Unicode.UTF8.encode(Unicode.Scalar(scalar)!)!)
            default: bytes.append(code)  // `"`, `\` and `/`
            }
        }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw .invalidUTF8 }
        return text
    }

    private static func hex4(_ raw: ArraySlice<UInt8>, at index: Int) -> UInt32 {
        (0..<4).reduce(0) { value, offset in value << 4 | UInt32(hexValue(raw[index + offset]) ?? 0) }
    }

    /// Appends a floating-point number as Foundation's JSONEncoder writes it (its shortest
    /// round-tripping `description`, without a trailing `.0`); nil for NaN and infinities.
    static func appendNumber<F: BinaryFloatingPoint & CustomStringConvertible>(_ value: F, to output: inout [UInt8]) -> Bool {
        guard value.isFinite else { return false }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        output.append(contentsOf: text.utf8)
        return true
    }

    /// Appends an integer in decimal.
    static func appendInteger<I: FixedWidthInteger>(_ value: I, to output: inout [UInt8]) {
        if value >= 0 && value < 10 {
            output.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        output.append(contentsOf: String(value).utf8)
    }

    /// An integer from a number's bytes: exact digits, or a fraction or exponent that still names
    /// a whole number in range (`1.0`, `1e3`); nil otherwise.
    static func integer<I: FixedWidthInteger>(_ raw: ArraySlice<UInt8>, as _: I.Type) -> I? {
        var index = raw.startIndex
        let negative = raw[index] == UInt8(ascii: "-")
        if negative { index += 1 }
        var value: I = 0
        var exact = true
        while index < raw.endIndex {
            let byte = raw[index]
            guard byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") else {
                exact = false
                break
            }
            let digit = I(byte - UInt8(ascii: "0"))
            let (scaled, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? scaled.subtractingReportingOverflow(digit) : scaled.addingReportingOverflow(digit)
            guard !overflow1 && !overflow2 else { return nil }
            value = next
            index += 1
        }
        if exact { return value }
        guard let double = Double(String(decoding: raw, as: UTF8.self)), double.rounded() == double else { return nil }
        return I(exactly: double)
    }

    /// A floating-point number from a number's bytes.
    static func double(_ raw: ArraySlice<UInt8>) -> Double? {
        Double(String(decoding: raw, as: UTF8.self))
    }
}
