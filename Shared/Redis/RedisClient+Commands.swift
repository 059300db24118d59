/// One entry of a Redis stream.
package struct RedisStreamEntry: Sendable, Hashable {
    /// The entry id (`<ms>-<seq>`).
    package var id: String
    /// The entry's fields (a field repeated within one entry keeps its last value).
    package var fields: [String: String]

    package init(id: String, fields: [String: String]) {
        self.id = id
        self.fields = fields
    }
}

// Typed helpers for the commands the services use. Reads and set-style writes are marked idempotent
// (re-sent once after a dropped connection when the configuration allows); INCR, XADD, PUBLISH are not.
extension RedisClient {
    // MARK: Strings and keys

    /// `GET key`: the value's bytes, or nil when the key does not exist.
    package func get(_ key: String) async throws(RedisError) -> [UInt8]? {
        try await reply(["GET", RedisArgument(key)], idempotent: true).bytes
    }

    /// `GET key` decoded as UTF-8, or nil when the key does not exist.
    package func getString(_ key: String) async throws(RedisError) -> String? {
        try await reply(["GET", RedisArgument(key)], idempotent: true).string
    }

    /// `SET key value [EX s | PX ms] [NX]`. Returns false when `onlyIfAbsent` kept an existing value.
    @discardableResult
    package func set(
        _ key: String, _ value: RedisArgument, expiresIn: Duration? = nil, onlyIfAbsent: Bool = false
    ) async throws(RedisError) -> Bool {
        var arguments: [RedisArgument] = ["SET", RedisArgument(key), value]
        if let expiresIn {
            let (seconds, attoseconds) = expiresIn.components
            if attoseconds == 0 {
                arguments += ["EX", RedisArgument(Int(seconds))]
            } else {
                arguments += ["PX", RedisArgument(Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))]
            }
        }
        if onlyIfAbsent { arguments.append("NX") }
        // SET NX is not idempotent: a re-send would report "not set" for our own write.
        return try await !reply(arguments, idempotent: !onlyIfAbsent).isNull
    }

    /// `DEL key…`: how many keys existed and were removed.
    @discardableResult
    package func delete(_ keys: [String]) async throws(RedisError) -> Int {
        try await integer(["DEL"] + keys.map { RedisArgument($0) }, idempotent: true)
    }

    /// `EXISTS key…`: how many of the keys exist.
    package func exists(_ keys: [String]) async throws(RedisError) -> Int {
        try await integer(["EXISTS"] + keys.map { RedisArgument($0) }, idempotent: true)
    }

    /// `EXPIRE key seconds`: false when the key does not exist.
    @discardableResult
    package func expire(_ key: String, after: Duration) async throws(RedisError) -> Bool {
        try await integer(["EXPIRE", RedisArgument(key), RedisArgument(Int(after.components.seconds))], idempotent: true) == 1
    }

    /// `TTL key` in seconds: -1 when the key has no expiry, -2 when it does not exist.
    package func ttl(_ key: String) async throws(RedisError) -> Int {
        try await integer(["TTL", RedisArgument(key)], idempotent: true)
    }

    /// `INCR key`: the new value. Not re-sent after a dropped connection.
    @discardableResult
    package func increment(_ key: String) async throws(RedisError) -> Int64 {
        try await Int64(integer(["INCR", RedisArgument(key)], idempotent: false))
    }

    /// Every key matching `pattern` (glob, as `SCAN … MATCH`), walking the whole keyspace with `SCAN`
    /// in steps of `count`. Keys added or removed meanwhile may or may not appear.
    package func scanKeys(matching pattern: String, count: Int = 1000) async throws(RedisError) -> [String] {
        var cursor = "0"
        var keys = Set<String>()
        repeat {
            let reply = try await reply(
                ["SCAN", RedisArgument(cursor), "MATCH", RedisArgument(pattern), "COUNT", RedisArgument(count)],
                idempotent: true
            )
            guard let parts = reply.elements, parts.count == 2, let next = parts[0].string, let batch = parts[1].strings else {
                throw .protocolError("SCAN returned \(reply.value)")
            }
            keys.formUnion(batch)
            cursor = next
        } while cursor != "0"
        return keys.sorted()
    }

    /// `PUBLISH channel message`: how many subscribers received it.
    @discardableResult
    package func publish(_ channel: String, _ message: RedisArgument) async throws(RedisError) -> Int {
        try await integer(["PUBLISH", RedisArgument(channel), message], idempotent: false)
    }

    // MARK: Hashes

    /// `HSET key field value…`: how many fields were new.
    @discardableResult
    package func hset(_ key: String, fields: [String: RedisArgument]) async throws(RedisError) -> Int {
        var arguments: [RedisArgument] = ["HSET", RedisArgument(key)]
        for (field, value) in fields.sorted(by: { $0.key < $1.key }) { arguments += [RedisArgument(field), value] }
        return try await integer(arguments, idempotent: true)
    }

    /// `HGET key field` as UTF-8, or nil when the field or key does not exist.
    package func hget(_ key: String, field: String) async throws(RedisError) -> String? {
        try await reply(["HGET", RedisArgument(key), RedisArgument(field)], idempotent: true).string
    }

    /// `HGETALL key` as a dictionary (empty when the key does not exist).
    package func hgetall(_ key: String) async throws(RedisError) -> [String: String] {
        let reply = try await reply(["HGETALL", RedisArgument(key)], idempotent: true)
        return try Self.pairs(reply, of: "HGETALL")
    }

    /// `HDEL key field…`: how many fields were removed.
    @discardableResult
    package func hdel(_ key: String, fields: [String]) async throws(RedisError) -> Int {
        try await integer(["HDEL", RedisArgument(key)] + fields.map { RedisArgument($0) }, idempotent: true)
    }

    // MARK: Sets

    /// `SADD key member…`: how many members were new.
    @discardableResult
    package func sadd(_ key: String, members: [String]) async throws(RedisError) -> Int {
        try await integer(["SADD", RedisArgument(key)] + members.map { RedisArgument($0) }, idempotent: true)
    }

    /// `SREM key member…`: how many members were removed.
    @discardableResult
    package func srem(_ key: String, members: [String]) async throws(RedisError) -> Int {
        try await integer(["SREM", RedisArgument(key)] + members.map { RedisArgument($0) }, idempotent: true)
    }

    /// `SMEMBERS key`.
    package func smembers(_ key: String) async throws(RedisError) -> Set<String> {
        try await Set(strings(["SMEMBERS", RedisArgument(key)], of: "SMEMBERS"))
    }

    /// `SISMEMBER key member`.
    package func sismember(_ key: String, member: String) async throws(RedisError) -> Bool {
        try await integer(["SISMEMBER", RedisArgument(key), RedisArgument(member)], idempotent: true) == 1
    }

    // MARK: Sorted sets

    /// `ZADD key score member…`: how many members were new.
    @discardableResult
    package func zadd(_ key: String, members: [(member: String, score: Double)]) async throws(RedisError) -> Int {
        var arguments: [RedisArgument] = ["ZADD", RedisArgument(key)]
        for entry in members { arguments += [RedisArgument(entry.score), RedisArgument(entry.member)] }
        return try await integer(arguments, idempotent: true)
    }

    /// `ZRANGEBYSCORE key min max [LIMIT offset count]`: members with `min ≤ score ≤ max`, lowest first.
    package func zrangeByScore(
        _ key: String, min: Double, max: Double, limit: (offset: Int, count: Int)? = nil
    ) async throws(RedisError) -> [String] {
        var arguments: [RedisArgument] = ["ZRANGEBYSCORE", RedisArgument(key), RedisArgument(min), RedisArgument(max)]
        if let limit { arguments += ["LIMIT", RedisArgument(limit.offset), RedisArgument(limit.count)] }
        return try await strings(arguments, of: "ZRANGEBYSCORE")
    }

    /// `ZREM key member…`: how many members were removed.
    @discardableResult
    package func zrem(_ key: String, members: [String]) async throws(RedisError) -> Int {
        try await integer(["ZREM", RedisArgument(key)] + members.map { RedisArgument($0) }, idempotent: true)
    }

    // MARK: Streams

    /// `XADD stream [MAXLEN ~ n] id field value…`: the new entry's id. With `maxLength` the stream is
    /// trimmed to about that many entries. Not re-sent after a dropped connection.
    @discardableResult
    package func xadd(
        _ stream: String, id: String = "*", fields: [String: RedisArgument], maxLength: Int? = nil
    ) async throws(RedisError) -> String {
        var arguments: [RedisArgument] = ["XADD", RedisArgument(stream)]
        if let maxLength { arguments += ["MAXLEN", "~", RedisArgument(maxLength)] }
        arguments.append(RedisArgument(id))
        for (field, value) in fields.sorted(by: { $0.key < $1.key }) { arguments += [RedisArgument(field), value] }
        let reply = try await reply(arguments, idempotent: false)
        guard let id = reply.string else { throw .protocolError("XADD returned \(reply.value)") }
        return id
    }

    /// `XRANGE stream start end [COUNT n]`, oldest first. `-` and `+` are the stream's ends.
    package func xrange(
        _ stream: String, from start: String = "-", to end: String = "+", count: Int? = nil
    ) async throws(RedisError) -> [RedisStreamEntry] {
        var arguments: [RedisArgument] = ["XRANGE", RedisArgument(stream), RedisArgument(start), RedisArgument(end)]
        if let count { arguments += ["COUNT", RedisArgument(count)] }
        return try await Self.entries(reply(arguments, idempotent: true))
    }

    /// `XGROUP CREATE stream group id MKSTREAM`: false when the group already exists (BUSYGROUP).
    /// `startID` `$` delivers only entries added from now on, `0` the whole stream.
    @discardableResult
    package func xgroupCreate(_ stream: String, group: String, startID: String = "$") async throws(RedisError) -> Bool {
        do {
            try await command(["XGROUP", "CREATE", RedisArgument(stream), RedisArgument(group), RedisArgument(startID), "MKSTREAM"], idempotent: true)
            return true
        } catch {
            if error.serverErrorCode == "BUSYGROUP" { return false }
            throw error
        }
    }

    /// `XREADGROUP GROUP group consumer [COUNT n] [BLOCK ms] STREAMS stream id` for one stream.
    /// `id` `>` asks for new entries, `0` for this consumer's pending ones. Returns no entries when
    /// `block` passes without any. Keep `block` below the configured command timeout.
    package func xreadgroup(
        group: String, consumer: String, stream: String, id: String = ">", count: Int? = nil, block: Duration? = nil
    ) async throws(RedisError) -> [RedisStreamEntry] {
        var arguments: [RedisArgument] = ["XREADGROUP", "GROUP", RedisArgument(group), RedisArgument(consumer)]
        if let count { arguments += ["COUNT", RedisArgument(count)] }
        if let block {
            let milliseconds = Int(block.components.seconds) * 1000 + Int(block.components.attoseconds / 1_000_000_000_000_000)
            arguments += ["BLOCK", RedisArgument(milliseconds)]
        }
        arguments += ["STREAMS", RedisArgument(stream), RedisArgument(id)]
        let reply = try await reply(arguments, idempotent: false)
        if reply.isNull { return [] }
        guard let streams = reply.elements else { throw .protocolError("XREADGROUP returned \(reply.value)") }
        var result: [RedisStreamEntry] = []
        for entry in streams {
            guard let parts = entry.elements, parts.count == 2 else { throw .protocolError("XREADGROUP returned \(reply.value)") }
            result += try Self.entries(parts[1])
        }
        return result
    }

    /// `XACK stream group id…`: how many entries were acknowledged.
    @discardableResult
    package func xack(_ stream: String, group: String, ids: [String]) async throws(RedisError) -> Int {
        try await integer(["XACK", RedisArgument(stream), RedisArgument(group)] + ids.map { RedisArgument($0) }, idempotent: true)
    }

    // MARK: Reply shapes

    private func integer(_ arguments: [RedisArgument], idempotent: Bool) async throws(RedisError) -> Int {
        let reply = try await reply(arguments, idempotent: idempotent)
        guard reply.kind == .integer, let value = reply.integer else {
            throw .protocolError("\(String(decoding: arguments[0].bytes, as: UTF8.self)) returned \(reply.value), expected an integer")
        }
        return Int(value)
    }

    private func strings(_ arguments: [RedisArgument], of name: String) async throws(RedisError) -> [String] {
        let reply = try await reply(arguments, idempotent: true)
        guard let strings = reply.strings else { throw .protocolError("\(name) returned \(reply.value), expected an array") }
        return strings
    }

    private static func pairs(_ reply: RedisReply, of name: String) throws(RedisError) -> [String: String] {
        guard let fields = reply.fields else { throw .protocolError("\(name) returned \(reply.value), expected field/value pairs") }
        return fields
    }

    private static func entries(_ reply: RedisReply) throws(RedisError) -> [RedisStreamEntry] {
        guard let elements = reply.elements else { throw .protocolError("stream read returned \(reply.value)") }
        var result: [RedisStreamEntry] = []
        result.reserveCapacity(elements.count)
        for element in elements {
            guard let parts = element.elements, parts.count == 2, let id = parts[0].string else {
                throw .protocolError("stream entry \(element.value)")
            }
            // A pending entry deleted from the stream comes back with null fields.
            let fields = parts[1].isNull ? [:] : try pairs(parts[1], of: "stream entry")
            result.append(RedisStreamEntry(id: id, fields: fields))
        }
        return result
    }
}
