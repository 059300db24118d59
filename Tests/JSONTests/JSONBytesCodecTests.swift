import Foundation
import Testing

@testable import PazJSON

/// The canonical codec against Foundation's `JSONEncoder`/`JSONDecoder` (whose output with
/// `[.sortedKeys, .withoutEscapingSlashes]` it must reproduce byte for byte), and its errors.
struct JSONBytesCodecTests {
    private static let encoder = JSONBytesEncoder(formatDate: { "\(Int($0.timeIntervalSince1970))s" })
    private static let decoder = JSONBytesDecoder(
        parseDate: { text in Double(text.dropLast()).map { Date(timeIntervalSince1970: $0) } }, dateDescription: "seconds")

    private static func foundation<T: Encodable>(_ value: T) throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode("\(Int(date.timeIntervalSince1970))s")
        }
        return Array(try encoder.encode(value))
    }

    struct Record: Codable, Equatable {
        enum Color: String, Codable { case red, green }
        struct Inner: Codable, Equatable {
            var zeta: Int
            var alpha: [String?]
        }
        var name: String
        var count: Int
        var small: Int8
        var big: UInt64
        var ratio: Double
        var share: Float
        var on: Bool
        var missing: String?
        var color: Color
        var when: Date
        var blob: Data
        var link: URL
        var tags: [String: String]
        var inner: Inner
        var nested: [[Int]]
        var empty: [Inner]
    }

    private static let record = Record(
        name: "quote \" backslash \\ slash / tab \t newline \n bell \u{07} del \u{7F} é 日本 🎉", count: -42,
        small: -8, big: UInt64.max, ratio: 0.1, share: 1.5, on: true, missing: nil, color: .green,
        when: Date(timeIntervalSince1970: 1_800_000_000), blob: Data([0, 1, 2, 250]),
        link: URL(string: "https://example.test/a?b=c")!, tags: ["b": "2", "a": "1", "Z": "0", "é": "x", "": "empty"],
        inner: .init(zeta: 1, alpha: ["x", nil]), nested: [[1, 2], [], [3]], empty: [])

    @Test func writesWhatFoundationWrites() throws {
        #expect(String(decoding: try Self.encoder.encode(Self.record), as: UTF8.self)
            == String(decoding: try Self.foundation(Self.record), as: UTF8.self))
    }

    @Test(arguments: [0.0, -0.0, 1.0, -1.5, 0.1, 1e20, 1e-7, 123456789.125, Double.greatestFiniteMagnitude, Double.leastNonzeroMagnitude, 1e16])
    func numbersAreWrittenAsFoundationWritesThem(_ value: Double) throws {
        #expect(try Self.encoder.encode([value]) == (try Self.foundation([value])))
        #expect(try Self.decoder.decode([Double].self, from: Self.encoder.encode([value])) == [value])
    }

    @Test func everyControlCharacterIsEscapedAsFoundationEscapesIt() throws {
        let text = String(decoding: (0..<128).map { UInt8($0) }, as: UTF8.self)
        #expect(try Self.encoder.encode(text) == (try Self.foundation(text)))
        #expect(try Self.decoder.decode(String.self, from: Self.encoder.encode(text)) == text)
    }

    @Test func readsWhatItWrites() throws {
        let bytes = try Self.encoder.encode(Self.record)
        #expect(try Self.decoder.decode(Record.self, from: bytes) == Self.record)
    }

    @Test func readsWhitespaceEscapesAndUnknownKeys() throws {
        let text = #"""
             { "zeta" : 7 , "unknown": {"deep": [1, {"x": null}]},
               "alpha" : [ "a\u00e9\ud83c\udf89\/\"" , null ] , "zeta": 8 }
            """#
        let inner = try Self.decoder.decode(Record.Inner.self, from: Array(text.utf8))
        #expect(inner == .init(zeta: 8, alpha: ["aé🎉/\"", nil]))  // the last of a repeated key wins
    }

    @Test func integersMustBeWholeAndInRange() throws {
        #expect(try Self.decoder.decode([Int].self, from: Array("[1.0, 1e3, -0]".utf8)) == [1, 1000, 0])
        #expect(throws: DecodingError.self) { try Self.decoder.decode([Int].self, from: Array("[1.5]".utf8)) }
        #expect(throws: DecodingError.self) { try Self.decoder.decode([UInt8].self, from: Array("[256]".utf8)) }
        #expect(throws: DecodingError.self) { try Self.decoder.decode([UInt].self, from: Array("[-1]".utf8)) }
        #expect(throws: DecodingError.self) { try Self.decoder.decode([Int].self, from: Array("[99999999999999999999]".utf8)) }
    }

    @Test(arguments: [
        "", " ", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "[01]", "[1.]", "[.5]", "[1e]", "[+1]", "tru", "nul",
        "\"abc", "\"\\x\"", "\"\\u12\"", "\"a\u{01}b\"", "[1] [2]", "{\"a\":1}}", "{'a':1}", "[NaN]",
    ])
    func malformedDocumentsAreRefused(_ text: String) {
        #expect {
            try Self.decoder.decode(JSONProbe.self, from: Array(text.utf8))
        } throws: { error in
            guard case DecodingError.dataCorrupted(let context) = error else { return false }
            return context.codingPath.isEmpty && context.debugDescription.contains("not valid JSON")
        }
    }

    @Test func deepNestingIsRefusedNotACrash() {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: DecodingError.self) { try Self.decoder.decode(JSONProbe.self, from: Array(deep.utf8)) }
        let fine = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
        #expect((try? Self.decoder.decode(JSONProbe.self, from: Array(fine.utf8))) != nil)
    }

    @Test func invalidUTF8AndLoneSurrogatesAreRefused() {
        #expect(throws: DecodingError.self) { try Self.decoder.decode(String.self, from: [0x22, 0xC3, 0x28, 0x22]) }
        #expect(throws: DecodingError.self) { try Self.decoder.decode(String.self, from: Array(#""\ud83c""#.utf8)) }
        #expect(throws: DecodingError.self) { try Self.decoder.decode(String.self, from: Array(#""\udf89x""#.utf8)) }
    }

    @Test func errorsNameThePathAndTheProblem() throws {
        let wrongType = Array(#"{"zeta": 1, "alpha": ["a", 5]}"#.utf8)
        #expect {
            try Self.decoder.decode(Record.Inner.self, from: wrongType)
        } throws: { error in
            guard case DecodingError.typeMismatch(_, let context) = error else { return false }
            return context.codingPath.map(\.stringValue) == ["alpha", "Index 1"]
                && context.debugDescription.contains("found a number")
        }
        #expect {
            try Self.decoder.decode(Record.Inner.self, from: Array(#"{"alpha": []}"#.utf8))
        } throws: { error in
            guard case DecodingError.keyNotFound(let key, _) = error else { return false }
            return key.stringValue == "zeta"
        }
        #expect {
            try Self.decoder.decode(Record.Inner.self, from: Array(#"{"zeta": null, "alpha": []}"#.utf8))
        } throws: { error in
            guard case DecodingError.valueNotFound(_, let context) = error else { return false }
            return context.codingPath.map(\.stringValue) == ["zeta"]
        }
        #expect {
            try Self.decoder.decode([String: Date].self, from: Array(#"{"t": "yesterday"}"#.utf8))
        } throws: { error in
            guard case DecodingError.dataCorrupted(let context) = error else { return false }
            return context.codingPath.map(\.stringValue) == ["t"] && context.debugDescription == #""yesterday" is not seconds"#
        }
    }

    @Test func nonFiniteNumbersAreRefused() {
        #expect(throws: EncodingError.self) { try Self.encoder.encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try Self.encoder.encode(["x": Double.infinity]) }
    }

    /// Nested containers and super encoders write after later members; the output is still sorted and complete.
    struct Hand: Codable, Equatable {
        var first: Int
        var pair: [String]
        var base: Int
        enum CodingKeys: String, CodingKey { case first, pair, nested, zlast }
        enum NestedKeys: String, CodingKey { case b, a }

        init(first: Int, pair: [String], base: Int) {
            (self.first, self.pair, self.base) = (first, pair, base)
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            var nested = container.nestedContainer(keyedBy: NestedKeys.self, forKey: .nested)
            var list = container.nestedUnkeyedContainer(forKey: .pair)
            try container.encode(first, forKey: .zlast)
            try nested.encode(base, forKey: .b)
            try list.encode(pair[0])
            var inner = list.nestedUnkeyedContainer()
            try inner.encode(pair[1])
            try nested.encode("a", forKey: .a)
            try base.encode(to: container.superEncoder())
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            first = try container.decode(Int.self, forKey: .zlast)
            let nested = try container.nestedContainer(keyedBy: NestedKeys.self, forKey: .nested)
            base = try nested.decode(Int.self, forKey: .b)
            var list = try container.nestedUnkeyedContainer(forKey: .pair)
            var inner = try list.nestedUnkeyedContainer()
            pair = [try list.decode(String.self), try inner.decode(String.self)].reversed()
            #expect(try Int(from: container.superDecoder()) == base)
        }
    }

    @Test func nestedContainersAndSuperEncodersAreWrittenInPlace() throws {
        let hand = Hand(first: 1, pair: ["p", "q"], base: 9)
        let bytes = try Self.encoder.encode(hand)
        #expect(String(decoding: bytes, as: UTF8.self) == String(decoding: try Self.foundation(hand), as: UTF8.self))
    }

    @Test func documentsShowTheirTopLevelStrings() throws {
        let document = try JSONDocument(parsing: Array(#"{"kind": "a.b", "n": 1, "esc": "x\ty"}"#.utf8))
        #expect(document.isObject)
        #expect(document.string(forKey: "kind") == "a.b")
        #expect(document.string(forKey: "n") == nil)
        #expect(document.string(forKey: "esc") == "x\ty")
        #expect(document.string(forKey: "none") == nil)
        #expect(!(try JSONDocument(parsing: Array("[1]".utf8))).isObject)
    }
}

/// Any JSON value (to parse documents whose shape does not matter).
private struct JSONProbe: Decodable {
    init(from decoder: any Decoder) throws {
        _ = try decoder.singleValueContainer()
    }
}
