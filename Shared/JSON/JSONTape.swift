import Glibc

/// A parsed JSON document as a flat list of values (a "tape"): each object or array is followed by
/// its members, and every entry knows where its subtree ends, so a reader skips a member in one
/// step and nothing is allocated per value. Strings and numbers stay bytes of the input until read.
struct JSONTape: Sendable {
    /// What one entry holds.
    enum Kind: UInt8, Sendable {
        case null, `true`, `false`, number, string, object, array
    }

    struct Entry: Sendable {
        var kind: Kind
        /// Strings: one or more `\` escapes inside; other kinds: false.
        var escaped: Bool
        /// Strings: one or more bytes ≥ 0x80 inside (to be checked as UTF-8 when read).
        var nonASCII: Bool
        /// Strings: the first byte after the opening quote; numbers: the first byte.
        var start: Int32
        /// Strings and numbers: byte length; objects: member count; arrays: element count.
        var count: Int32
        /// The index of the entry after this value's subtree.
        var next: Int32
    }

    /// The document's bytes.
    let bytes: [UInt8]
    /// Entry 0 is the document's value; an object's members are key, value, key, value…
    private(set) var entries: [Entry] = []

    /// Nesting deeper than this is refused (as Foundation's reader does), so hostile input cannot
    /// exhaust the stack.
    static let maximumDepth = 512

    /// Parses `bytes` (one JSON value, surrounded by optional whitespace).
    init(parsing bytes: [UInt8]) throws(JSONSyntaxError) {
        self.bytes = bytes
        guard bytes.count < Int(Int32.max) else { throw JSONSyntaxError(offset: 0, problem: "the document is too large") }
        var parser = Parser()
        parser.entries.reserveCapacity(max(8, bytes.count / 12))
        try bytes.withUnsafeBufferPointer { buffer throws(JSONSyntaxError) in
            try parser.parseDocument(buffer)
        }
        entries = parser.entries
    }

    subscript(index: Int) -> Entry { entries[index] }

    /// The raw bytes of a string (without quotes) or number entry.
    func slice(_ entry: Entry) -> ArraySlice<UInt8> {
        bytes[Int(entry.start)..<Int(entry.start + entry.count)]
    }

    /// The text of a string entry.
    func text(_ entry: Entry) throws(JSONText.StringProblem) -> String {
        try JSONText.string(slice(entry), escaped: entry.escaped, nonASCII: entry.nonASCII)
    }

    /// A document of one `null`: what a missing member reads as where a decoder must be given.
    static let null = try! JSONTape(parsing: Array("null".utf8))

    /// The value index of `key` in the object at `object` (the last, if repeated), or nil.
    func find(_ key: String, inObject object: Int) -> Int? {
        var key = key
        return key.withUTF8 { wanted -> Int? in
            var found: Int?
            var member = object + 1
            let end = Int(self[object].next)
            while member < end {
                let entry = self[member]
                if entry.escaped {
                    if (try? text(entry))?.utf8
                        .elementsEqual(wanted) == true
                    {
                        found = member + 1
                    }
                } else if Int(entry.count) == wanted.count {
                    let equal = bytes.withUnsafeBufferPointer { bytes in
                        wanted.count == 0 || memcmp(bytes.baseAddress! + Int(entry.start), wanted.baseAddress!, wanted.count) == 0
                    }
                    if equal { found = member + 1 }
                }
                member = Int(self[member + 1].next)
            }
            return found
        }
    }

    private struct Parser {
        var entries: [Entry] = []
        var position = 0
        var depth = 0

        mutating func parseDocument(_ input: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) {
            skipWhitespace(input)
            try parseValue(input)
            skipWhitespace(input)
            guard position == input.count else {
                throw JSONSyntaxError(offset: position, problem: "unexpected text after the JSON value")
            }
        }

        private mutating func skipWhitespace(_ input: UnsafeBufferPointer<UInt8>) {
            while position < input.count {
                switch input[position] {
                case 0x20, 0x0A, 0x0D, 0x09: position += 1
                default: return
                }
            }
        }

        private mutating func parseValue(_ input: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) {
            guard position < input.count else { throw JSONSyntaxError(offset: position, problem: "unexpected end of data") }
            switch input[position] {
            case UInt8(ascii: "{"): try parseContainer(input, .object)
            case UInt8(ascii: "["): try parseContainer(input, .array)
            case UInt8(ascii: "\""): try parseString(input)
            case UInt8(ascii: "t"): try parseLiteral(input, "true", .true)
            case UInt8(ascii: "f"): try parseLiteral(input, "false", .false)
            case UInt8(ascii: "n"): try parseLiteral(input, "null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try parseNumber(input)
            default: throw JSONSyntaxError(offset: position, problem: "unexpected character '\(Unicode.Scalar(input[position]))'")
            }
        }

        private mutating func append(_ kind: Kind, start: Int, count: Int, escaped: Bool = false, nonASCII: Bool = false) {
            entries.append(Entry(
                kind: kind, escaped: escaped, nonASCII: nonASCII, start: Int32(start), count: Int32(count),
                next: Int32(entries.count + 1)))
        }

        private mutating func parseLiteral(_ input: UnsafeBufferPointer<UInt8>, _ word: StaticString, _ kind: Kind)
            throws(JSONSyntaxError)
        {
            let length = word.utf8CodeUnitCount
            guard position + length <= input.count,
                  (0..<length).allSatisfy({ input[position + $0] == word.utf8Start[$0] })
            else { throw JSONSyntaxError(offset: position, problem: "invalid literal (expected \(word))") }
            append(kind, start: position, count: length)
            position += length
        }

        private mutating func parseNumber(_ input: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) {
            let start = position
            func isDigit(_ index: Int) -> Bool {
                index < input.count && input[index] >= UInt8(ascii: "0") && input[index] <= UInt8(ascii: "9")
            }
            if input[position] == UInt8(ascii: "-") { position += 1 }
            guard isDigit(position) else { throw JSONSyntaxError(offset: position, problem: "a number needs digits") }
            if input[position] == UInt8(ascii: "0") {
                position += 1
                if isDigit(position) { throw JSONSyntaxError(offset: position, problem: "a number cannot have a leading zero") }
            } else {
                while isDigit(position) { position += 1 }
            }
            if position < input.count && input[position] == UInt8(ascii: ".") {
                position += 1
                guard isDigit(position) else { throw JSONSyntaxError(offset: position, problem: "a fraction needs digits") }
                while isDigit(position) { position += 1 }
            }
            if position < input.count && (input[position] == UInt8(ascii: "e") || input[position] == UInt8(ascii: "E")) {
                position += 1
                if position < input.count && (input[position] == UInt8(ascii: "+") || input[position] == UInt8(ascii: "-")) {
                    position += 1
                }
                guard isDigit(position) else { throw JSONSyntaxError(offset: position, problem: "an exponent needs digits") }
                while isDigit(position) { position += 1 }
            }
            append(.number, start: start, count: position - start)
        }

        private mutating func parseString(_ input: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) {
            position += 1  // the opening quote
            let start = position
            var escaped = false
            var nonASCII = false
            while true {
                guard position < input.count else { throw JSONSyntaxError(offset: start - 1, problem: "unterminated string") }
                let byte = input[position]
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") {
                    escaped = true
                    position += 1
                    guard position < input.count else { throw JSONSyntaxError(offset: start - 1, problem: "unterminated string") }
                    switch input[position] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                         UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        position += 1
                    case UInt8(ascii: "u"):
                        guard position + 4 < input.count,
                              (1...4).allSatisfy({ JSONText.hexValue(input[position + $0]) != nil })
                        else { throw JSONSyntaxError(offset: position - 1, problem: "invalid \\u escape") }
                        position += 5
                    default:
                        throw JSONSyntaxError(offset: position - 1, problem: "invalid escape sequence")
                    }
                    continue
                }
                if byte < 0x20 { throw JSONSyntaxError(offset: position, problem: "unescaped control character in a string") }
                if byte >= 0x80 { nonASCII = true }
                position += 1
            }
            append(.string, start: start, count: position - start, escaped: escaped, nonASCII: nonASCII)
            position += 1  // the closing quote
        }

        private mutating func enter() throws(JSONSyntaxError) {
            depth += 1
            guard depth <= JSONTape.maximumDepth else {
                throw JSONSyntaxError(offset: position, problem: "nesting deeper than \(JSONTape.maximumDepth) levels")
            }
        }

        /// An object (`"key": value` members) or an array, its members separated by commas.
        private mutating func parseContainer(_ input: UnsafeBufferPointer<UInt8>, _ kind: Kind) throws(JSONSyntaxError) {
            try enter()
            let (closer, name): (UInt8, String) = kind == .object ? (UInt8(ascii: "}"), "object") : (UInt8(ascii: "]"), "array")
            let index = entries.count
            append(kind, start: position, count: 0)
            position += 1
            var members: Int32 = 0
            skipWhitespace(input)
            if position < input.count && input[position] == closer {
                position += 1
            } else {
                while true {
                    skipWhitespace(input)
                    if kind == .object { try parseKey(input) }
                    try parseValue(input)
                    members += 1
                    skipWhitespace(input)
                    guard position < input.count else { throw JSONSyntaxError(offset: position, problem: "unterminated \(name)") }
                    if input[position] == UInt8(ascii: ",") {
                        position += 1
                    } else if input[position] == closer {
                        position += 1
                        break
                    } else {
                        throw JSONSyntaxError(
                            offset: position, problem: "expected ',' or '\(Unicode.Scalar(closer))' in an \(name)")
                    }
                }
            }
            entries[index].count = members
            entries[index].next = Int32(entries.count)
            depth -= 1
        }

        /// A member's key and the `:` after it.
        private mutating func parseKey(_ input: UnsafeBufferPointer<UInt8>) throws(JSONSyntaxError) {
            guard position < input.count, input[position] == UInt8(ascii: "\"") else {
                throw JSONSyntaxError(offset: position, problem: "expected a key (a string)")
            }
            try parseString(input)
            skipWhitespace(input)
            guard position < input.count, input[position] == UInt8(ascii: ":") else {
                throw JSONSyntaxError(offset: position, problem: "expected ':' after a key")
            }
            position += 1
            skipWhitespace(input)
        }
    }
}

/// Bytes that are not one well-formed JSON value.
struct JSONSyntaxError: Error, CustomStringConvertible {
    /// Where the problem was found (a byte offset).
    let offset: Int
    let problem: String

    var description: String { "\(problem) at byte \(offset)" }
}
