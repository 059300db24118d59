package import Foundation

/// Decodes `Decodable` values from JSON bytes without Foundation's intermediate dictionaries: the
/// document is parsed once into a ``JSONTape`` and containers read members straight off it.
///
/// Behaves as `JSONDecoder` does for the control plane's messages: unknown keys are ignored, the
/// last of duplicate keys wins, errors are `DecodingError`s with the coding path, a number decodes
/// into an integer type only when it names a whole number in range, and `Data` is Base64 and `URL`
/// a string. Dates are read by ``parseDate``.
package struct JSONBytesDecoder: Sendable {
    /// Reads a date from its string form; nil when the string is not a date.
    package var parseDate: @Sendable (String) -> Date?
    /// What a date looks like, for errors: "\"x\" is not <this>".
    package var dateDescription: String

    package init(parseDate: @escaping @Sendable (String) -> Date?, dateDescription: String) {
        self.parseDate = parseDate
        self.dateDescription = dateDescription
    }

    /// Decodes one `T` from `bytes`.
    package func decode<T: Decodable>(_: T.Type, from bytes: [UInt8]) throws -> T {
        try decode(T.self, from: JSONDocument(parsing: bytes))
    }

    /// Decodes one `T` from a document already parsed (e.g. after looking at some of its fields).
    package func decode<T: Decodable>(_: T.Type, from document: JSONDocument) throws -> T {
        let state = DecodingState(tape: document.tape, options: self, path: [])
        return try state.decode(T.self, at: 0, depth: 0, key: nil)
    }
}

/// Parsed JSON bytes, to look at before decoding them.
package struct JSONDocument: Sendable {
    let tape: JSONTape

    /// Parses `bytes`; throws `DecodingError.dataCorrupted` (empty coding path) when they are not
    /// one well-formed JSON value.
    package init(parsing bytes: [UInt8]) throws {
        do {
            tape = try JSONTape(parsing: bytes)
        } catch {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: [], debugDescription: "The given data was not valid JSON.", underlyingError: error))
        }
    }

    /// Whether the document is an object.
    package var isObject: Bool { tape[0].kind == .object }

    /// The top-level member `key` when the document is an object and that member a string; else nil.
    package func string(forKey key: String) -> String? {
        guard isObject else { return nil }
        guard let index = tape.find(key, inObject: 0), tape[index].kind == .string else { return nil }
        let entry = tape[index]
        return try? tape.text(entry)
    }
}

/// One decode's document and coding path. The path is a stack: a value's decoder knows its depth,
/// and the keys above it are the first `depth` elements (containers are used innermost first).
final class DecodingState {
    let tape: JSONTape
    let options: JSONBytesDecoder
    private(set) var path: [any CodingKey]

    init(tape: JSONTape, options: JSONBytesDecoder, path: [any CodingKey]) {
        self.tape = tape
        self.options = options
        self.path = path
    }

    func codingPath(_ depth: Int) -> [any CodingKey] {
        Array(path.prefix(depth))
    }

    func codingPath(_ depth: Int, _ key: any CodingKey) -> [any CodingKey] {
        codingPath(depth) + [key]
    }

    // MARK: Values

    /// Decodes the value at tape `index`, whose parent is at `depth` (its own key is `key`).
    func decode<T: Decodable>(_: T.Type, at index: Int, depth: Int, key: (any CodingKey)?) throws -> T {
        if T.self == String.self {
            return try string(at: index) { key.map { codingPath(depth, $0) } ?? codingPath(depth) } as! T
        }
        if T.self == Date.self {
            return try date(at: index) { key.map { codingPath(depth, $0) } ?? codingPath(depth) } as! T
        }
        if T.self == Data.self || T.self == URL.self {
            return try special(T.self, at: index) { key.map { codingPath(depth, $0) } ?? codingPath(depth) }
        }
        if path.count > depth { path.removeSubrange(depth...) }
        let mark = path.count
        if let key { path.append(key) }
        defer { if path.count > mark { path.removeSubrange(mark...) } }
        return try T(from: ValueDecoder(state: self, index: index, depth: key == nil ? depth : depth + 1))
    }

    func isNull(_ index: Int) -> Bool { tape[index].kind == .null }

    func string(at index: Int, path: () -> [any CodingKey]) throws -> String {
        let entry = tape[index]
        guard entry.kind == .string else { throw mismatch(String.self, entry, path()) }
        do {
            return try tape.text(entry)
        } catch {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: path(),
                debugDescription: error == .invalidUTF8 ? "The string is not valid UTF-8." : "The string has an unpaired UTF-16 surrogate."))
        }
    }

    func bool(at index: Int, path: () -> [any CodingKey]) throws -> Bool {
        switch tape[index].kind {
        case .true: return true
        case .false: return false
        default: throw mismatch(Bool.self, tape[index], path())
        }
    }

    func integer<I: FixedWidthInteger>(_: I.Type, at index: Int, path: () -> [any CodingKey]) throws -> I {
        let entry = tape[index]
        guard entry.kind == .number else { throw mismatch(I.self, entry, path()) }
        guard let value = JSONText.integer(tape.slice(entry), as: I.self) else {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: path(),
                debugDescription: "Parsed JSON number <\(String(decoding: tape.slice(entry), as: UTF8.self))> does not fit in \(I.self)."))
        }
        return value
    }

    func floatingPoint<F: BinaryFloatingPoint & LosslessStringConvertible>(
        _: F.Type, at index: Int, path: () -> [any CodingKey]
    ) throws -> F {
        let entry = tape[index]
        guard entry.kind == .number else { throw mismatch(F.self, entry, path()) }
        let text = String(decoding: tape.slice(entry), as: UTF8.self)
        guard let value = F(text), value.isFinite else {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: path(), debugDescription: "Parsed JSON number <\(text)> does not fit in \(F.self)."))
        }
        return value
    }

    private func date(at index: Int, path: () -> [any CodingKey]) throws -> Date {
        let text = try string(at: index, path: path)
        guard let date = options.parseDate(text) else {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: path(), debugDescription: "\"\(text)\" is not \(options.dateDescription)"))
        }
        return date
    }

    private func special<T>(_: T.Type, at index: Int, path: () -> [any CodingKey]) throws -> T {
        let text = try string(at: index, path: path)
        if T.self == Data.self {
            guard let data = Data(base64Encoded: text) else {
                throw DecodingError.dataCorrupted(DecodingError.Context(
                    codingPath: path(), debugDescription: "Encountered Data is not valid Base64."))
            }
            return data as! T
        }
        guard let url = URL(string: text) else {
            throw DecodingError.dataCorrupted(DecodingError.Context(codingPath: path(), debugDescription: "Invalid URL string."))
        }
        return url as! T
    }

    func mismatch(_ type: Any.Type, _ entry: JSONTape.Entry, _ path: [any CodingKey]) -> DecodingError {
        if entry.kind == .null {
            return .valueNotFound(type, DecodingError.Context(
                codingPath: path, debugDescription: "Cannot get value of type \(type) -- found null value instead"))
        }
        let found = switch entry.kind {
        case .null: "null"
        case .true, .false: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .object: "a dictionary"
        case .array: "an array"
        }
        return .typeMismatch(type, DecodingError.Context(
            codingPath: path, debugDescription: "Expected to decode \(type) but found \(found) instead."))
    }
}

/// The decoder of one value; also its single-value container.
struct ValueDecoder: Decoder, SingleValueDecodingContainer {
    let state: DecodingState
    let index: Int
    let depth: Int

    var codingPath: [any CodingKey] { state.codingPath(depth) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy _: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let entry = state.tape[index]
        guard entry.kind == .object else { throw state.mismatch([String: Any].self, entry, codingPath) }
        return KeyedDecodingContainer(KeyedContainer<Key>(state: state, object: index, depth: depth))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let entry = state.tape[index]
        guard entry.kind == .array else { throw state.mismatch([Any].self, entry, codingPath) }
        return UnkeyedContainer(state: state, array: index, depth: depth)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer { self }

    func decodeNil() -> Bool { state.isNull(index) }
    func decode(_: Bool.Type) throws -> Bool { try state.bool(at: index) { codingPath } }
    func decode(_: String.Type) throws -> String { try state.string(at: index) { codingPath } }
    func decode(_: Double.Type) throws -> Double { try state.floatingPoint(Double.self, at: index) { codingPath } }
    func decode(_: Float.Type) throws -> Float { try state.floatingPoint(Float.self, at: index) { codingPath } }
    func decode(_: Int.Type) throws -> Int { try state.integer(Int.self, at: index) { codingPath } }
    func decode(_: Int8.Type) throws -> Int8 { try state.integer(Int8.self, at: index) { codingPath } }
    func decode(_: Int16.Type) throws -> Int16 { try state.integer(Int16.self, at: index) { codingPath } }
    func decode(_: Int32.Type) throws -> Int32 { try state.integer(Int32.self, at: index) { codingPath } }
    func decode(_: Int64.Type) throws -> Int64 { try state.integer(Int64.self, at: index) { codingPath } }
    func decode(_: UInt.Type) throws -> UInt { try state.integer(UInt.self, at: index) { codingPath } }
    func decode(_: UInt8.Type) throws -> UInt8 { try state.integer(UInt8.self, at: index) { codingPath } }
    func decode(_: UInt16.Type) throws -> UInt16 { try state.integer(UInt16.self, at: index) { codingPath } }
    func decode(_: UInt32.Type) throws -> UInt32 { try state.integer(UInt32.self, at: index) { codingPath } }
    func decode(_: UInt64.Type) throws -> UInt64 { try state.integer(UInt64.self, at: index) { codingPath } }
    func decode<T: Decodable>(_: T.Type) throws -> T { try state.decode(T.self, at: index, depth: depth, key: nil) }
}

/// A key for array positions in coding paths.
struct IndexKey: CodingKey {
    let intValue: Int?
    var stringValue: String { "Index \(intValue ?? 0)" }
    init(_ index: Int) { intValue = index }
    init?(intValue: Int) { self.intValue = intValue }
    init?(stringValue _: String) { nil }
}

/// The `super` key of `superDecoder()`/`superEncoder()`.
struct SuperKey: CodingKey {
    var stringValue: String { "super" }
    var intValue: Int? { nil }
    init() {}
    init?(stringValue _: String) { nil }
    init?(intValue _: Int) { nil }
}

struct KeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let state: DecodingState
    let object: Int
    let depth: Int

    var codingPath: [any CodingKey] { state.codingPath(depth) }

    var allKeys: [Key] {
        var keys: [Key] = []
        var member = object + 1
        let end = Int(state.tape[object].next)
        while member < end {
            if let name = try? state.string(at: member, path: { [] }), let key = Key(stringValue: name) { keys.append(key) }
            member = Int(state.tape[member + 1].next)
        }
        return keys
    }

    func contains(_ key: Key) -> Bool { state.tape.find(key.stringValue, inObject: object) != nil }

    private func value(_ key: Key) throws -> Int {
        guard let index = state.tape.find(key.stringValue, inObject: object) else {
            throw DecodingError.keyNotFound(key, DecodingError.Context(
                codingPath: codingPath, debugDescription: "No value associated with key \(key) (\"\(key.stringValue)\")."))
        }
        return index
    }

    func decodeNil(forKey key: Key) throws -> Bool { state.isNull(try value(key)) }
    func decode(_: Bool.Type, forKey key: Key) throws -> Bool { try state.bool(at: try value(key)) { state.codingPath(depth, key) } }
    func decode(_: String.Type, forKey key: Key) throws -> String {
        try state.string(at: try value(key)) { state.codingPath(depth, key) }
    }
    func decode(_: Double.Type, forKey key: Key) throws -> Double {
        try state.floatingPoint(Double.self, at: try value(key)) { state.codingPath(depth, key) }
    }
    func decode(_: Float.Type, forKey key: Key) throws -> Float {
        try state.floatingPoint(Float.self, at: try value(key)) { state.codingPath(depth, key) }
    }
    func decode(_: Int.Type, forKey key: Key) throws -> Int { try integer(key) }
    func decode(_: Int8.Type, forKey key: Key) throws -> Int8 { try integer(key) }
    func decode(_: Int16.Type, forKey key: Key) throws -> Int16 { try integer(key) }
    func decode(_: Int32.Type, forKey key: Key) throws -> Int32 { try integer(key) }
    func decode(_: Int64.Type, forKey key: Key) throws -> Int64 { try integer(key) }
    func decode(_: UInt.Type, forKey key: Key) throws -> UInt { try integer(key) }
    func decode(_: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(key) }
    func decode(_: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(key) }
    func decode(_: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(key) }
    func decode(_: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(key) }

    private func integer<I: FixedWidthInteger>(_ key: Key) throws -> I {
        try state.integer(I.self, at: try value(key)) { state.codingPath(depth, key) }
    }

    func decode<T: Decodable>(_: T.Type, forKey key: Key) throws -> T {
        try state.decode(T.self, at: try value(key), depth: depth, key: key)
    }

    /// The value index of `key` unless it is missing or null.
    private func present(_ key: Key) -> Int? {
        guard let index = state.tape.find(key.stringValue, inObject: object), !state.isNull(index) else { return nil }
        return index
    }

    func decodeIfPresent<T: Decodable>(_: T.Type, forKey key: Key) throws -> T? {
        guard let index = present(key) else { return nil }
        return try state.decode(T.self, at: index, depth: depth, key: key)
    }

    func decodeIfPresent(_: String.Type, forKey key: Key) throws -> String? {
        guard let index = present(key) else { return nil }
        return try state.string(at: index) { state.codingPath(depth, key) }
    }

    func decodeIfPresent(_: Int.Type, forKey key: Key) throws -> Int? {
        guard let index = present(key) else { return nil }
        return try state.integer(Int.self, at: index) { state.codingPath(depth, key) }
    }

    func decodeIfPresent(_: Bool.Type, forKey key: Key) throws -> Bool? {
        guard let index = present(key) else { return nil }
        return try state.bool(at: index) { state.codingPath(depth, key) }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws
        -> KeyedDecodingContainer<NestedKey>
    {
        try detached(at: try value(key), key).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try detached(at: try value(key), key).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        detached(at: state.tape.find("super", inObject: object), SuperKey())
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        detached(at: state.tape.find(key.stringValue, inObject: object), key)
    }

    /// A decoder with its own path, for containers that outlive the call that made them. A
    /// missing member reads as null (as `superDecoder` requires).
    private func detached(at index: Int?, _ key: any CodingKey) -> ValueDecoder {
        let path = state.codingPath(depth, key)
        if let index {
            return ValueDecoder(state: DecodingState(tape: state.tape, options: state.options, path: path), index: index, depth: path.count)
        }
        return ValueDecoder(state: DecodingState(tape: .null, options: state.options, path: path), index: 0, depth: path.count)
    }
}

struct UnkeyedContainer: UnkeyedDecodingContainer {
    let state: DecodingState
    let depth: Int
    let count: Int?
    private(set) var currentIndex = 0
    /// The tape index of the next element.
    private var cursor: Int

    init(state: DecodingState, array: Int, depth: Int) {
        self.state = state
        self.depth = depth
        count = Int(state.tape[array].count)
        cursor = array + 1
    }

    var codingPath: [any CodingKey] { state.codingPath(depth) }
    var isAtEnd: Bool { currentIndex >= count! }

    private mutating func next<T>(
        _ type: T.Type, _ read: (DecodingState, Int, () -> [any CodingKey]) throws -> T
    ) throws -> T {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, DecodingError.Context(
                codingPath: state.codingPath(depth, IndexKey(currentIndex)), debugDescription: "Unkeyed container is at end."))
        }
        let position = currentIndex
        let (state, depth) = (state, depth)
        let value = try read(state, cursor) { state.codingPath(depth, IndexKey(position)) }
        cursor = Int(state.tape[cursor].next)
        currentIndex += 1
        return value
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any?.self, DecodingError.Context(
                codingPath: state.codingPath(depth, IndexKey(currentIndex)), debugDescription: "Unkeyed container is at end."))
        }
        guard state.isNull(cursor) else { return false }
        cursor += 1
        currentIndex += 1
        return true
    }

    mutating func decode(_: Bool.Type) throws -> Bool { try next(Bool.self) { try $0.bool(at: $1, path: $2) } }
    mutating func decode(_: String.Type) throws -> String { try next(String.self) { try $0.string(at: $1, path: $2) } }
    mutating func decode(_: Double.Type) throws -> Double {
        try next(Double.self) { try $0.floatingPoint(Double.self, at: $1, path: $2) }
    }
    mutating func decode(_: Float.Type) throws -> Float {
        try next(Float.self) { try $0.floatingPoint(Float.self, at: $1, path: $2) }
    }
    mutating func decode(_: Int.Type) throws -> Int { try integer() }
    mutating func decode(_: Int8.Type) throws -> Int8 { try integer() }
    mutating func decode(_: Int16.Type) throws -> Int16 { try integer() }
    mutating func decode(_: Int32.Type) throws -> Int32 { try integer() }
    mutating func decode(_: Int64.Type) throws -> Int64 { try integer() }
    mutating func decode(_: UInt.Type) throws -> UInt { try integer() }
    mutating func decode(_: UInt8.Type) throws -> UInt8 { try integer() }
    mutating func decode(_: UInt16.Type) throws -> UInt16 { try integer() }
    mutating func decode(_: UInt32.Type) throws -> UInt32 { try integer() }
    mutating func decode(_: UInt64.Type) throws -> UInt64 { try integer() }

    private mutating func integer<I: FixedWidthInteger>() throws -> I {
        try next(I.self) { try $0.integer(I.self, at: $1, path: $2) }
    }

    mutating func decode<T: Decodable>(_: T.Type) throws -> T {
        let (depth, position) = (depth, currentIndex)
        return try next(T.self) { state, index, _ in try state.decode(T.self, at: index, depth: depth, key: IndexKey(position)) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        try next(KeyedDecodingContainer<NestedKey>.self) { state, index, path in try Self.detached(state, index, path()).container(keyedBy: type) }
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try next((any UnkeyedDecodingContainer).self) { state, index, path in try Self.detached(state, index, path()).unkeyedContainer() }
    }

    mutating func superDecoder() throws -> any Decoder {
        try next((any Decoder).self) { state, index, path in Self.detached(state, index, path()) }
    }

    private static func detached(_ state: DecodingState, _ index: Int, _ path: [any CodingKey]) -> ValueDecoder {
        ValueDecoder(state: DecodingState(tape: state.tape, options: state.options, path: path), index: index, depth: path.count)
    }
}
