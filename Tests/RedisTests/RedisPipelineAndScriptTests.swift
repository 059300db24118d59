import PazRedis
import Testing

@Suite("Redis pipelining and Lua scripts")
struct RedisPipelineAndScriptTests {
    @Test func thousandCommandPipelineRepliesInOrder() async throws {
        try await withSharedRedis("pipeline") { (redis, prefix) async throws in
            let key = RedisArgument(prefix + "counter")
            let replies = try await redis.pipeline(Array(repeating: ["INCR", key], count: 1000))
            #expect(replies.count == 1000)
            #expect(replies == (1...1000).map { RedisValue.integer(Int64($0)) })

            let list = RedisArgument(prefix + "list")
            let pushes = try await redis.pipeline((0..<1000).map { ["RPUSH", list, RedisArgument("item-\($0)")] })
            #expect(pushes == (1...1000).map { RedisValue.integer(Int64($0)) })
            let items = try await redis.command("LRANGE", list, "0", "-1").array?.compactMap(\.string)
            #expect(items == (0..<1000).map { "item-\($0)" })
        }
    }

    @Test func errorReplyInsidePipelineIsAValue() async throws {
        try await withSharedRedis("pipeline-errors") { (redis, prefix) async throws in
            let key = RedisArgument(prefix + "string")
            let replies = try await redis.pipeline([
                ["SET", key, "v"],
                ["LPUSH", key, "x"],
                ["GET", key],
                ["NO-SUCH-COMMAND"],
                ["INCR", RedisArgument(prefix + "n")],
            ])
            #expect(replies.count == 5)
            #expect(replies[0] == .status("OK"))
            #expect(replies[1].errorMessage?.hasPrefix("WRONGTYPE") == true)
            #expect(replies[2] == .bulk(Array("v".utf8)))
            #expect(replies[3].errorMessage?.hasPrefix("ERR unknown command") == true)
            #expect(replies[4] == .integer(1))
            #expect(try await redis.pipeline([]) == [])
        }
    }

    @Test func sha1MatchesKnownVectors() {
        #expect(RedisScript("").sha1 == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
        #expect(RedisScript("abc").sha1 == "a9993e364706816aba3e25717850c26c9cd0d89d")
        #expect(RedisScript(String(repeating: "a", count: 1000)).sha1 == "291e9a6c66994949b57ba5e650361e98fc36b1ba")
    }

    /// The status store's compare-and-set: write a machine's state only if its `observedAt` is newer.
    static let setIfNewer = RedisScript("""
        local current = redis.call('HGET', KEYS[1], 'observedAt')
        if current and tonumber(current) >= tonumber(ARGV[1]) then return 0 end
        redis.call('HSET', KEYS[1], 'observedAt', ARGV[1], ARGV[2], ARGV[3])
        return 1
        """)

    @Test func evalshaLoadsTheScriptAfterScriptFlush() async throws {
        try await withSharedRedis("lua") { (redis, prefix) async throws in
            let script = Self.setIfNewer
            let key = RedisArgument(prefix + "machine")
            try await redis.command("SCRIPT", "FLUSH")
            #expect(try await redis.command("SCRIPT", "EXISTS", RedisArgument(script.sha1)) == .array([.integer(0)]))
            let error = await #expect(throws: RedisError.self) {
                try await redis.command("EVALSHA", RedisArgument(script.sha1), "1", key, "100", "state", "running")
            }
            #expect(error?.serverErrorCode == "NOSCRIPT")

            // NOSCRIPT → SCRIPT LOAD (its SHA1 checked against ours) → EVALSHA, transparently.
            #expect(try await redis.evaluate(script, keys: [key], arguments: ["100", "state", "running"]) == .integer(1))
            #expect(try await redis.command("SCRIPT", "EXISTS", RedisArgument(script.sha1)) == .array([.integer(1)]))
            #expect(try await redis.evaluate(script, keys: [key], arguments: ["90", "state", "stopped"]) == .integer(0))
            #expect(try await redis.evaluate(script, keys: [key], arguments: ["100", "state", "stopped"]) == .integer(0))
            #expect(try await redis.hgetall(key.string) == ["observedAt": "100", "state": "running"])
            #expect(try await redis.evaluate(script, keys: [key], arguments: ["101", "state", "stopped"]) == .integer(1))
            #expect(try await redis.hgetall(key.string) == ["observedAt": "101", "state": "stopped"])

            let broken = RedisScript("return redis.call('NO-SUCH-COMMAND')")
            let scriptError = await #expect(throws: RedisError.self) { try await redis.evaluate(broken) }
            #expect(scriptError?.serverErrorCode != "NOSCRIPT")
        }
    }
}

extension RedisArgument {
    var string: String { String(decoding: bytes, as: UTF8.self) }
}
