package import Foundation

/// Encodes `Encodable` values straight into JSON bytes, canonically: object keys sorted by their
/// UTF-8 bytes, no whitespace, `/` not escaped — the bytes Foundation's `JSONEncoder` writes with
/// `[.sortedKeys, .withoutEscapingSlashes]`, without its intermediate tree of values.
///
/// Members are written in the order the value encodes them; an object whose members came in
/// another order than their keys' is rewritten in key order once the value that opened it is done. `Data` is written as Base64, `URL` as its
/// absolute string, dates by ``formatDate``; NaN and infinities are refused.
package struct JSONBytesEncoder: Sendable {
    /// A date's string form.
    package var formatDate: @Sendable (Date) -> String

    package init(formatDate: @escaping @Sendable (Date) -> String) {
        self.formatDate = formatDate
    }

    /// The JSON bytes of `value`.
    package func encode<T: Encodable>(_ value: T) throws -> [UInt8] {
        let state = EncodingState(options: self, path: [])
        try state.encodeValue(value, key: nil)
        return try state.finish()
    }
}

/// One encode's output and the values still open in it.
final class EncodingState {
    enum Kind { case empty, object, array, single }

    /// A value being written: it starts at `start` in ``bytes``; an object's members since
    /// `membersStart` in ``members`` are its own; `elements` counts an array's elements or an
    /// object's members.
    struct Frame {
        var kind: Kind
        var start: Int
        var membersStart: Int
        var elements = 0
    }

    /// An object member (`"key":value` at `start..<end`, after its separating comma), or a value
    /// written separately by a nested container (`deferred`, placed after `end` when its parent closes).
    struct Member {
        var key: String
        var start: Int
        var end: Int
        var deferred: EncodingState?
    }

    let options: JSONBytesEncoder
    var bytes: [UInt8] = []
    private(set) var frames: [Frame] = []
    private var members: [Member] = []
    private var scratch: [UInt8] = []
    private(set) var path: [any CodingKey]
    /// The first misuse of the encoding API (two containers of different kinds for one value…).
    private var misuse: EncodingError?

    init(options: JSONBytesEncoder, path: [any CodingKey]) {
        self.options = options
        self.path = path
        bytes.reserveCapacity(512)
    }

    /// Closes every open value and returns the bytes.
    func finish() throws -> [UInt8] {
        while !frames.isEmpty { close() }
        if let misuse { throw misuse }
        return bytes
    }

    // MARK: Values

    /// Writes `value` at the current position; `key` extends the coding path while it encodes.
    func encodeValue<T: Encodable>(_ value: T, key: (any CodingKey)?) throws {
        if T.self == String.self { return JSONText.appendString(value as! String, to: &bytes) }
        if T.self == Date.self { return JSONText.appendString(options.formatDate(value as! Date), to: &bytes) }
        if T.self == Data.self { return JSONText.appendString((value as! Data).base64EncodedString(), to: &bytes) }
        if T.self == URL.self { return JSONText.appendString((value as! URL).absoluteString, to: &bytes) }
        let mark = path.count
        if let key { path.append(key) }
        defer { if path.count > mark { path.removeSubrange(mark...) } }
        frames.append(Frame(kind: .empty, start: bytes.count, membersStart: members.count))
        let frame = frames.count - 1
        try value.encode(to: ValueEncoder(state: self, frame: frame, depth: path.count))
        while frames.count > frame { close() }
    }

    func writeNull() { bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C]) }

    func write(_ value: Bool) {
        bytes.append(contentsOf: value ? [0x74, 0x72, 0x75, 0x65] : [0x66, 0x61, 0x6C, 0x73, 0x65])
    }

    func write(_ value: String) { JSONText.appendString(value, to: &bytes) }

    func write<I: FixedWidthInteger>(integer value: I) { JSONText.appendInteger(value, to: &bytes) }

    func write<F: BinaryFloatingPoint & CustomStringConvertible>(_ value: F, path: @autoclosure () -> [any CodingKey]) throws {
        guard JSONText.appendNumber(value, to: &bytes) else {
            throw EncodingError.invalidValue(value, EncodingError.Context(
                codingPath: path(), debugDescription: "Unable to encode \(F.self).\(value) directly in JSON."))
        }
    }

    // MARK: Containers

    /// Makes `frame` an object or an array (if it is not that already) and writes its opening
    /// bracket; false if it is another kind.
    func open(_ frame: Int, as kind: Kind) -> Bool {
        let container = kind == .object ? "a keyed container" : "an unkeyed container"
        guard frames.indices.contains(frame) else { return refuse("\(container) was used after its value was done") }
        switch frames[frame].kind {
        case .empty:
            frames[frame].kind = kind
            bytes.append(kind == .object ? UInt8(ascii: "{") : UInt8(ascii: "["))
        case kind: break
        default: return refuse("\(container) was requested for a value already encoded as another kind")
        }
        return true
    }

    /// Makes `frame` a single value; false if something was encoded into it already.
    func openSingle(_ frame: Int) -> Bool {
        guard frames.indices.contains(frame), frames[frame].kind == .empty else {
            return refuse("a single value container was asked to encode a second value")
        }
        frames[frame].kind = .single
        return true
    }

    /// Whether `frame` is the innermost open value (so writing to it lands in its bytes).
    func isInnermost(_ frame: Int) -> Bool {
        frame == frames.count - 1 || refuse("a container was written to while a value inside it was still open")
    }

    /// Writes `"key":` for a member of the object `frame` (the innermost); returns where the member starts.
    func beginMember(_ frame: Int, _ key: String) -> Int {
        if frames[frame].elements > 0 { bytes.append(UInt8(ascii: ",")) }
        frames[frame].elements += 1
        let start = bytes.count
        JSONText.appendString(key, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        return start
    }

    func endMember(_ key: String, start: Int, deferred: EncodingState? = nil) {
        members.append(Member(key: key, start: start, end: bytes.count, deferred: deferred))
    }

    /// Writes the separator before the next element of the array `frame`.
    func beginElement(_ frame: Int) {
        if frames[frame].elements > 0 { bytes.append(UInt8(ascii: ",")) }
        frames[frame].elements += 1
    }

    /// An element of the innermost array written separately (by a nested container), placed here when the array closes.
    func deferElement(_ child: EncodingState) {
        members.append(Member(key: "", start: bytes.count, end: bytes.count, deferred: child))
    }

    func elementCount(_ frame: Int) -> Int { frames.indices.contains(frame) ? frames[frame].elements : 0 }

    private func refuse(_ problem: String) -> Bool {
        if misuse == nil {
            misuse = EncodingError.invalidValue(problem, EncodingError.Context(codingPath: path, debugDescription: problem))
        }
        return false
    }

    /// Closes the innermost open value.
    private func close() {
        let frame = frames.removeLast()
        switch frame.kind {
        case .empty: bytes.append(contentsOf: [UInt8(ascii: "{"), UInt8(ascii: "}")])
        case .single: break
        case .array:
            if members.count > frame.membersStart { spliceDeferredElements(frame) }
            bytes.append(UInt8(ascii: "]"))
        case .object: closeObject(frame)
        }
        if members.count > frame.membersStart { members.removeSubrange(frame.membersStart...) }
    }

    private func closeObject(_ frame: Frame) {
        let own = members[frame.membersStart...]
        let inOrder = zip(own, own.dropFirst()).allSatisfy { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        if inOrder && !own.contains(where: { $0.deferred != nil }) {
            bytes.append(UInt8(ascii: "}"))
            return
        }
        var order = Array(own.indices)
        order.sort { left, right in
            let (a, b) = (own[left].key, own[right].key)
            return a == b ? left < right : a.utf8.lexicographicallyPrecedes(b.utf8)
        }
        // A key written twice keeps its last value (as a dictionary would).
        order = order.enumerated().filter { position, index in
            position + 1 == order.count || own[order[position + 1]].key != own[index].key
        }.map(\.element)
        let body = frame.start + 1  // after the `{`
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: bytes[body...])
        bytes.removeSubrange(body...)
        for (position, index) in order.enumerated() {
            if position > 0 { bytes.append(UInt8(ascii: ",")) }
            let member = own[index]
            bytes.append(contentsOf: scratch[(member.start - body)..<(member.end - body)])
            if let child = member.deferred { bytes.append(contentsOf: child.finishedBytes()) }
        }
        bytes.append(UInt8(ascii: "}"))
    }

    private func spliceDeferredElements(_ frame: Frame) {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: bytes[frame.start...])
        bytes.removeSubrange(frame.start...)
        var copied = 0
        for member in members[frame.membersStart...] {
            let upTo = member.end - frame.start
            bytes.append(contentsOf: scratch[copied..<upTo])
            copied = upTo
            if let child = member.deferred { bytes.append(contentsOf: child.finishedBytes()) }
        }
        bytes.append(contentsOf: scratch[copied...])
    }

    /// A nested container's bytes (its misuse, if any, is carried into this encode's).
    private func finishedBytes() -> [UInt8] {
        do {
            return try finish()
        } catch {
            if misuse == nil { misuse = error as? EncodingError }
            return bytes
        }
    }

    /// A separate state for a nested container or super encoder at `path`, its one value open.
    func child(path: [any CodingKey]) -> EncodingState {
        let child = EncodingState(options: options, path: path)
        child.frames.append(Frame(kind: .empty, start: 0, membersStart: 0))
        return child
    }
}

/// The encoder of one value; also its single-value container.
struct ValueEncoder: Encoder, SingleValueEncodingContainer {
    let state: EncodingState
    let frame: Int
    let depth: Int

    var codingPath: [any CodingKey] { Array(state.path.prefix(depth)) }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy _: Key.Type) -> KeyedEncodingContainer<Key> {
        _ = state.open(frame, as: .object)
        return KeyedEncodingContainer(ObjectEncoder<Key>(state: state, frame: frame, depth: depth))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        _ = state.open(frame, as: .array)
        return ArrayEncoder(state: state, frame: frame, depth: depth)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer { self }

    private func single() -> Bool { state.openSingle(frame) && state.isInnermost(frame) }

    func encodeNil() { if single() { state.writeNull() } }
    func encode(_ value: Bool) { if single() { state.write(value) } }
    func encode(_ value: String) { if single() { state.write(value) } }
    func encode(_ value: Double) throws { if single() { try state.write(value, path: codingPath) } }
    func encode(_ value: Float) throws { if single() { try state.write(value, path: codingPath) } }
    func encode(_ value: Int) { if single() { state.write(integer: value) } }
    func encode(_ value: Int8) { if single() { state.write(integer: value) } }
    func encode(_ value: Int16) { if single() { state.write(integer: value) } }
    func encode(_ value: Int32) { if single() { state.write(integer: value) } }
    func encode(_ value: Int64) { if single() { state.write(integer: value) } }
    func encode(_ value: UInt) { if single() { state.write(integer: value) } }
    func encode(_ value: UInt8) { if single() { state.write(integer: value) } }
    func encode(_ value: UInt16) { if single() { state.write(integer: value) } }
    func encode(_ value: UInt32) { if single() { state.write(integer: value) } }
    func encode(_ value: UInt64) { if single() { state.write(integer: value) } }
    func encode<T: Encodable>(_ value: T) throws { if single() { try state.encodeValue(value, key: nil) } }
}

struct ObjectEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let state: EncodingState
    let frame: Int
    let depth: Int

    var codingPath: [any CodingKey] { Array(state.path.prefix(depth)) }

    /// Writes one member with `write` (which writes the value).
    private func member(_ key: Key, _ write: () throws -> Void) rethrows {
        guard state.isInnermost(frame) else { return }
        let name = key.stringValue
        let start = state.beginMember(frame, name)
        try write()
        state.endMember(name, start: start)
    }

    mutating func encodeNil(forKey key: Key) { member(key) { state.writeNull() } }
    mutating func encode(_ value: Bool, forKey key: Key) { member(key) { state.write(value) } }
    mutating func encode(_ value: String, forKey key: Key) { member(key) { state.write(value) } }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        try member(key) { try state.write(value, path: codingPath + [key]) }
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        try member(key) { try state.write(value, path: codingPath + [key]) }
    }
    mutating func encode(_ value: Int, forKey key: Key) { member(key) { state.write(integer: value) } }
    mutating func encode(_ value: Int8, forKey key: Key) { member(key) { state.write(integer: value) } }
    mutating func encode(_ value: Int16, forKey key: Key) { member(key) { state.write(integer: value) } }
    mutating func encode(_ value: Int32, forKey key: Key) { member(key) { state.write(integer: value) } }
    mutating func encode(_ value: Int64, forKey key: Key) { member(key) { state.write(integer: value) } }
    mutating func encode(_ value: UInt, forKey key: Key) { member(key) { state.write(integer: value) } }
    mutating func encode(_ value: UInt8, forKey key: Key) { member(key) { state.write(integer: value) } }
    mutating func encode(_ value: UInt16, forKey key: Key) { member(key) { state.write(integer: value) } }
    mutating func encode(_ value: UInt32, forKey key: Key) { member(key) { state.write(integer: value) } }
    mutating func encode(_ value: UInt64, forKey key: Key) { member(key) { state.write(integer: value) } }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try member(key) { try state.encodeValue(value, key: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key)
        -> KeyedEncodingContainer<NestedKey>
    {
        deferred(key).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        deferred(key).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder { deferred(SuperKey(), name: "super") }
    mutating func superEncoder(forKey key: Key) -> any Encoder { deferred(key) }

    /// A member whose value a separate encoder writes (it may be written after later members).
    private func deferred(_ key: any CodingKey, name: String? = nil) -> ValueEncoder {
        let child = state.child(path: codingPath + [key])
        if state.isInnermost(frame) {
            let name = name ?? key.stringValue
            state.endMember(name, start: state.beginMember(frame, name), deferred: child)
        }
        return ValueEncoder(state: child, frame: 0, depth: child.path.count)
    }
}

struct ArrayEncoder: UnkeyedEncodingContainer {
    let state: EncodingState
    let frame: Int
    let depth: Int

    var codingPath: [any CodingKey] { Array(state.path.prefix(depth)) }
    var count: Int { state.elementCount(frame) }

    private func element(_ write: () throws -> Void) rethrows {
        guard state.isInnermost(frame) else { return }
        state.beginElement(frame)
        try write()
    }

    mutating func encodeNil() { element { state.writeNull() } }
    mutating func encode(_ value: Bool) { element { state.write(value) } }
    mutating func encode(_ value: String) { element { state.write(value) } }
    mutating func encode(_ value: Double) throws { try element { try state.write(value, path: codingPath) } }
    mutating func encode(_ value: Float) throws { try element { try state.write(value, path: codingPath) } }
    mutating func encode(_ value: Int) { element { state.write(integer: value) } }
    mutating func encode(_ value: Int8) { element { state.write(integer: value) } }
    mutating func encode(_ value: Int16) { element { state.write(integer: value) } }
    mutating func encode(_ value: Int32) { element { state.write(integer: value) } }
    mutating func encode(_ value: Int64) { element { state.write(integer: value) } }
    mutating func encode(_ value: UInt) { element { state.write(integer: value) } }
    mutating func encode(_ value: UInt8) { element { state.write(integer: value) } }
    mutating func encode(_ value: UInt16) { element { state.write(integer: value) } }
    mutating func encode(_ value: UInt32) { element { state.write(integer: value) } }
    mutating func encode(_ value: UInt64) { element { state.write(integer: value) } }
    mutating func encode<T: Encodable>(_ value: T) throws {
        let index = count
        try element { try state.encodeValue(value, key: IndexKey(index)) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        deferred().container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer { deferred().unkeyedContainer() }

    mutating func superEncoder() -> any Encoder { deferred() }

    /// An element a separate encoder writes.
    private func deferred() -> ValueEncoder {
        let child = state.child(path: codingPath + [IndexKey(count)])
        element { state.deferElement(child) }
        return ValueEncoder(state: child, frame: 0, depth: child.path.count)
    }
}
