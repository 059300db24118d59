import PazRedis
import Testing

/// Typed helpers against the shared redis-server; every test works under its own key prefix.
@Suite("Redis typed commands")
struct RedisCommandTests {
    @Test func stringsAndKeys() async throws {
        try await withSharedRedis("strings") { (redis, prefix) async throws in
            let key = prefix + "greeting"
            #expect(try await redis.getString(key) == nil)
            #expect(try await redis.set(key, "hello"))
            #expect(try await redis.getString(key) == "hello")
            #expect(try await redis.ttl(key) == -1)
            #expect(try await redis.set(key, "other", onlyIfAbsent: true) == false)
            #expect(try await redis.getString(key) == "hello")
            #expect(try await redis.set(prefix + "fresh", "x", expiresIn: .seconds(100), onlyIfAbsent: true))
            let ttl = try await redis.ttl(prefix + "fresh")
            #expect(ttl > 90 && ttl <= 100)
            #expect(try await redis.set(prefix + "short", "x", expiresIn: .milliseconds(30_500)))
            #expect((20...31).contains(try await redis.ttl(prefix + "short")))  // TTL rounds to seconds; a loaded machine is slow
            #expect(try await redis.expire(key, after: .seconds(50)))
            #expect(try await redis.ttl(key) > 40)
            #expect(try await redis.expire(prefix + "missing", after: .seconds(5)) == false)
            #expect(try await redis.ttl(prefix + "missing") == -2)
            #expect(try await redis.increment(prefix + "counter") == 1)
            #expect(try await redis.increment(prefix + "counter") == 2)
            #expect(try await redis.exists([key, prefix + "counter", prefix + "missing"]) == 2)
            #expect(try await redis.delete([key, prefix + "counter", prefix + "missing"]) == 2)
            #expect(try await redis.exists([key]) == 0)
            let error = await #expect(throws: RedisError.self) { try await redis.increment(prefix + "fresh") }
            #expect(error?.serverErrorCode == "ERR")
            #expect(error?.isRetriable == false)
        }
    }

    @Test func hashes() async throws {
        try await withSharedRedis("hashes") { (redis, prefix) async throws in
            let key = prefix + "machine:m1"
            #expect(try await redis.hgetall(key) == [:])
            #expect(try await redis.hset(key, fields: ["state": "running", "observedAt": "100", "ip": "127.0.0.9"]) == 3)
            #expect(try await redis.hset(key, fields: ["state": "stopped", "driver": "qemu"]) == 1)
            #expect(try await redis.hget(key, field: "state") == "stopped")
            #expect(try await redis.hget(key, field: "nope") == nil)
            #expect(try await redis.hgetall(key) == [
                "state": "stopped", "observedAt": "100", "ip": "127.0.0.9", "driver": "qemu",
            ])
            #expect(try await redis.hdel(key, fields: ["ip", "nope"]) == 1)
            #expect(try await redis.hgetall(key).keys.sorted() == ["driver", "observedAt", "state"])
        }
    }

    @Test func sets() async throws {
        try await withSharedRedis("sets") { (redis, prefix) async throws in
            let key = prefix + "clusters"
            #expect(try await redis.sadd(key, members: ["a", "b", "c"]) == 3)
            #expect(try await redis.sadd(key, members: ["c", "d"]) == 1)
            #expect(try await redis.smembers(key) == ["a", "b", "c", "d"])
            #expect(try await redis.sismember(key, member: "b"))
            #expect(try await redis.sismember(key, member: "z") == false)
            #expect(try await redis.srem(key, members: ["a", "z"]) == 1)
            #expect(try await redis.smembers(key) == ["b", "c", "d"])
            #expect(try await redis.smembers(prefix + "empty") == [])
        }
    }

    @Test func sortedSets() async throws {
        try await withSharedRedis("zsets") { (redis, prefix) async throws in
            let key = prefix + "deadlines"
            #expect(try await redis.zadd(key, members: [("late", 30), ("early", 10), ("middle", 20), ("neg", -5.5)]) == 4)
            #expect(try await redis.zadd(key, members: [("early", 11)]) == 0)
            #expect(try await redis.zrangeByScore(key, min: 10, max: 25) == ["early", "middle"])
            #expect(try await redis.zrangeByScore(key, min: -.infinity, max: .infinity) == ["neg", "early", "middle", "late"])
            #expect(try await redis.zrangeByScore(key, min: -.infinity, max: .infinity, limit: (1, 2)) == ["early", "middle"])
            #expect(try await redis.command("ZSCORE", RedisArgument(key), "neg").double == -5.5)
            #expect(try await redis.zrem(key, members: ["early", "nope"]) == 1)
            #expect(try await redis.zrangeByScore(key, min: 0, max: 100) == ["middle", "late"])
        }
    }

    @Test func streams() async throws {
        try await withSharedRedis("streams") { (redis, prefix) async throws in
            let stream = prefix + "events"
            #expect(try await redis.xgroupCreate(stream, group: "collectors", startID: "0"))
            #expect(try await redis.xgroupCreate(stream, group: "collectors", startID: "0") == false)
            var ids: [String] = []
            for index in 0..<5 {
                ids.append(try await redis.xadd(stream, fields: ["n": RedisArgument(index), "kind": "state"], maxLength: 1000))
            }
            #expect(Set(ids).count == 5)
            let all = try await redis.xrange(stream)
            #expect(all.map(\.id) == ids)
            #expect(all[3].fields == ["n": "3", "kind": "state"])
            #expect(try await redis.xrange(stream, count: 2).map(\.id) == Array(ids.prefix(2)))

            let first = try await redis.xreadgroup(group: "collectors", consumer: "c1", stream: stream, count: 3)
            #expect(first.map(\.id) == Array(ids.prefix(3)))
            #expect(first.map { $0.fields["n"] } == ["0", "1", "2"])
            #expect(try await redis.xack(stream, group: "collectors", ids: [ids[0], ids[1]]) == 2)
            let pending = try await redis.xreadgroup(group: "collectors", consumer: "c1", stream: stream, id: "0")
            #expect(pending.map(\.id) == [ids[2]])
            let rest = try await redis.xreadgroup(
                group: "collectors", consumer: "c2", stream: stream, count: 10, block: .milliseconds(100)
            )
            #expect(rest.map(\.id) == Array(ids.suffix(2)))
            let none = try await redis.xreadgroup(
                group: "collectors", consumer: "c2", stream: stream, block: .milliseconds(100)
            )
            #expect(none.isEmpty)
        }
    }

    @Test func scanFindsEveryKeyUnderAPrefix() async throws {
        try await withSharedRedis("scan") { (redis, prefix) async throws in
            let keys = (0..<250).map { "\(prefix)k\($0)" }
            _ = try await redis.pipeline(keys.map { ["SET", RedisArgument($0), "v"] })
            #expect(try await redis.scanKeys(matching: prefix + "*", count: 17) == keys.sorted())
            #expect(try await redis.scanKeys(matching: prefix + "k1?") == (10..<20).map { "\(prefix)k\($0)" }.sorted())
        }
    }

    @Test func binaryValuesRoundTrip() async throws {
        try await withSharedRedis("binary") { (redis, prefix) async throws in
            let bytes: [UInt8] = [0, 1, 0, 255, 13, 10, 0] + (0...255).map { UInt8($0) }
            #expect(try await redis.set(prefix + "blob", RedisArgument(bytes: bytes)))
            #expect(try await redis.get(prefix + "blob") == bytes)
            let empty = try await redis.pipeline([
                ["SET", RedisArgument(prefix + "empty"), RedisArgument(bytes: [])],
                ["GET", RedisArgument(prefix + "empty")],
                ["STRLEN", RedisArgument(prefix + "blob")],
            ])
            #expect(empty == [.status("OK"), .bulk([]), .integer(Int64(bytes.count))])
            let key: [UInt8] = Array((prefix + "key\u{0}with-nul").utf8)
            try await redis.command(["HSET", RedisArgument(bytes: key), RedisArgument(bytes: [0]), RedisArgument(bytes: bytes)])
            #expect(try await redis.command(["HGET", RedisArgument(bytes: key), RedisArgument(bytes: [0])]).bytes == bytes)
        }
    }
}
