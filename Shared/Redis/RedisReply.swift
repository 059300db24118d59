/// One reply read off the wire, as a view: its bytes stay in the buffer they were read into, and fields
/// are decoded only when read.
///
/// The replies to one caller's commands are read into one ``RedisReplyBuffer``: every bulk string,
/// status and error back to back in one byte array, and a flat table of nodes (pre-order) pointing
/// into it. Reading an `HGETALL` of 100 fields allocates the dictionary and its strings, not
/// an array per field. ``value`` converts to the tree of ``RedisValue`` when a caller wants that.
package struct RedisReply: Sendable {
    /// The RESP2 type of a reply.
    package enum Kind: UInt8, Sendable {
        case bulk, integer, array, null, status, error
    }

    let buffer: RedisReplyBuffer
    let index: Int

    private var node: RedisReplyNode { buffer.nodes[index] }

    /// The reply's type.
    package var kind: Kind { node.kind }

    /// True for a null reply.
    package var isNull: Bool { kind == .null }

    /// Bulk strings decoded as UTF-8 (invalid sequences replaced), and status replies; nil otherwise.
    package var string: String? {
        let node = node
        guard node.kind == .bulk || node.kind == .status else { return nil }
        return buffer.string(node)
    }

    /// The bytes of a bulk string (or a status reply); nil otherwise.
    package var bytes: [UInt8]? {
        let node = node
        guard node.kind == .bulk || node.kind == .status else { return nil }
        return Array(buffer.bytes[node.offset..<node.offset + Int(node.value)])
    }

    /// An integer reply, or a bulk string holding a decimal integer; nil otherwise.
    package var integer: Int64? {
        switch kind {
        case .integer: node.value
        case .bulk: string.flatMap { Int64($0) }
        default: nil
        }
    }

    /// The message of an error reply; nil otherwise.
    package var errorMessage: String? {
        let node = node
        return node.kind == .error ? buffer.string(node) : nil
    }

    /// The elements of an array reply, in order (views into the same buffer); nil otherwise.
    package var elements: [RedisReply]? {
        guard kind == .array else { return nil }
        var elements: [RedisReply] = []
        elements.reserveCapacity(Int(node.value))
        var child = index + 1
        for _ in 0..<node.value {
            elements.append(RedisReply(buffer: buffer, index: child))
            child = buffer.nodes[child].end
        }
        return elements
    }

    /// The bulk strings (and status replies) of a flat array reply, decoded as UTF-8; other elements
    /// are skipped. Nil when the reply is not an array.
    package var strings: [String]? {
        guard kind == .array else { return nil }
        var strings: [String] = []
        strings.reserveCapacity(Int(node.value))
        var child = index + 1
        for _ in 0..<node.value {
            let element = buffer.nodes[child]
            if element.kind == .bulk || element.kind == .status { strings.append(buffer.string(element)) }
            child = element.end
        }
        return strings
    }

    /// An array of field/value pairs (`HGETALL`, a stream entry's fields) as a dictionary; a field
    /// repeated keeps its last value, a value that is not a string reads as "". Nil when the reply is
    /// not an array of an even number of elements.
    package var fields: [String: String]? {
        guard kind == .array, node.value % 2 == 0 else { return nil }
        var fields: [String: String] = [:]
        fields.reserveCapacity(Int(node.value / 2))
        var child = index + 1
        for _ in 0..<node.value / 2 {
            let field = buffer.nodes[child]
            let value = buffer.nodes[field.end]
            if field.kind == .bulk || field.kind == .status {
                fields[buffer.string(field)] = value.kind == .bulk || value.kind == .status ? buffer.string(value) : ""
            }
            child = value.end
        }
        return fields
    }

    /// The reply as a ``RedisValue`` tree (copies every string).
    package var value: RedisValue {
        let node = node
        switch node.kind {
        case .bulk: return .bulk(Array(buffer.bytes[node.offset..<node.offset + Int(node.value)]))
        case .integer: return .integer(node.value)
        case .array: return .array(elements?.map(\.value) ?? [])
        case .null: return .null
        case .status: return .status(buffer.string(node))
        case .error: return .error(buffer.string(node))
        }
    }
}

/// One node of a ``RedisReplyBuffer``: a reply or an element of an array reply.
struct RedisReplyNode: Sendable {
    var kind: RedisReply.Kind
    /// Where a string's bytes start in ``RedisReplyBuffer/bytes``.
    var offset: Int
    /// A string's byte count, an array's element count, or an integer's value.
    var value: Int64
    /// The index right after this node's subtree (its next sibling, for an array element).
    var end: Int
}

/// The replies to one request (one caller's commands): bytes back to back, nodes in pre-order, and
/// where each reply starts. Immutable once read. One buffer per request rather than per batch: small
/// buffers come from malloc's free lists, warm in the cache, where a batch's would be fresh pages.
final class RedisReplyBuffer: Sendable {
    let bytes: [UInt8]
    let nodes: [RedisReplyNode]
    /// The node of each reply, in the order the commands were sent.
    let roots: [Int]

    init(bytes: [UInt8], nodes: [RedisReplyNode], roots: [Int]) {
        self.bytes = bytes
        self.nodes = nodes
        self.roots = roots
    }

    /// The reply to the first command.
    var first: RedisReply { RedisReply(buffer: self, index: roots[0]) }
    /// Every reply, in order.
    var all: [RedisReply] { roots.map { RedisReply(buffer: self, index: $0) } }

    func string(_ node: RedisReplyNode) -> String {
        bytes.withUnsafeBufferPointer { String(decoding: $0[node.offset..<node.offset + Int(node.value)], as: UTF8.self) }
    }
}

/// Collects what hiredis's reader reports (through ``RedisConnection``'s reply functions) into the
/// arrays of a ``RedisReplyBuffer``. Confined to the connection's thread, which keeps it behind a
/// pointer: called once per element, it must not pay for the dynamic exclusivity checks of a class's
/// stored properties.
struct RedisReplyBuilder {
    private var bytes: [UInt8] = []
    private var nodes: [RedisReplyNode] = []
    private var roots: [Int] = []
    /// Arrays still waiting for elements: their node and how many elements are missing.
    private var open: [(node: Int, missing: Int64)] = []

    /// Marks where the next reply starts; call before reading it.
    mutating func beginReply() {
        open.removeAll(keepingCapacity: true)
        roots.append(nodes.count)
    }

    mutating func addString(_ kind: RedisReply.Kind, _ start: UnsafePointer<CChar>?, count: Int) {
        let offset = bytes.count
        if let start, count > 0 {
            UnsafeRawPointer(start).withMemoryRebound(to: UInt8.self, capacity: count) { source in
                bytes.append(contentsOf: UnsafeBufferPointer(start: source, count: count))
            }
        }
        nodes.append(RedisReplyNode(kind: kind, offset: offset, value: Int64(count), end: nodes.count + 1))
        if !open.isEmpty { elementDone() }
    }

    mutating func addArray(count: Int) {
        let index = nodes.count
        nodes.append(RedisReplyNode(kind: .array, offset: 0, value: Int64(count), end: index + 1))
        if count > 0 { open.append((index, Int64(count))) } else { elementDone() }
    }

    mutating func addInteger(_ value: Int64) {
        add(RedisReplyNode(kind: .integer, offset: 0, value: value, end: nodes.count + 1))
    }

    mutating func addNull() {
        add(RedisReplyNode(kind: .null, offset: 0, value: 0, end: nodes.count + 1))
    }

    /// Everything read since the last call, as an immutable buffer; starts a new one of the same
    /// capacity (replies tend to look alike).
    mutating func finish() -> RedisReplyBuffer {
        let buffer = RedisReplyBuffer(bytes: bytes, nodes: nodes, roots: roots)
        bytes = []
        bytes.reserveCapacity(buffer.bytes.count)
        nodes = []
        nodes.reserveCapacity(buffer.nodes.count)
        roots = []
        roots.reserveCapacity(buffer.roots.count)
        open.removeAll(keepingCapacity: true)
        return buffer
    }

    private mutating func add(_ node: RedisReplyNode) {
        nodes.append(node)
        elementDone()
    }

    /// A node is complete: so is every enclosing array whose last element it was.
    private mutating func elementDone() {
        while let last = open.indices.last {
            open[last].missing -= 1
            guard open[last].missing == 0 else { return }
            nodes[open[last].node].end = nodes.count
            open.removeLast()
        }
    }
}
