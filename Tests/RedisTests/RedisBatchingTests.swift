import Foundation
import PazLocalServers
import PazRedis
import PazTestSupport
import Testing

/// Pipelining across callers: a connection sends everything waiting in line in one batch. Each caller
/// must still get its own replies, its own pipeline contiguous and in order, whatever else shares the
/// batch; a caller that leaves the line takes nothing with it; a batch cut off fails all its callers.
@Suite("Redis: batches of concurrent callers on one connection")
struct RedisBatchingTests {
    @Test func concurrentCallersOnOneConnectionGetTheirOwnRepliesInOrder() async throws {
        try await withSharedRedis("batching", poolSize: 1) { (redis, prefix) async throws in
            let shared = RedisArgument(prefix + "shared")
            try await withThrowingTaskGroup(of: Void.self) { group in
                for caller in 0..<32 {
                    group.addTask {
                        let ownKey = prefix + "caller\(caller)"
                        let own = RedisArgument(ownKey)
                        let ownHash = RedisArgument(ownKey + "h")
                        for round in 1...20 {
                            let tag = "\(caller)/\(round)"
                            if (caller + round) % 3 == 0 {
                                #expect(try await redis.command("ECHO", RedisArgument(tag)) == .bulk(Array(tag.utf8)))
                                #expect(try await redis.increment(ownKey) == Int64(round))
                                continue
                            }
                            // Three INCRs of a key every caller increments come back consecutive only
                            // if nobody else's command ran between them: the pipeline stayed contiguous.
                            let replies = try await redis.pipeline([
                                ["ECHO", RedisArgument(tag)], ["INCR", shared], ["INCR", shared], ["INCR", shared],
                                ["INCR", own], ["HSET", ownHash, "round", RedisArgument(round)], ["HGETALL", ownHash],
                            ])
                            #expect(replies.count == 7)
                            #expect(replies[0] == .bulk(Array(tag.utf8)))
                            let counts = replies[1...3].compactMap(\.integer)
                            #expect(counts.count == 3 && counts[1] == counts[0] + 1 && counts[2] == counts[1] + 1, "\(counts)")
                            #expect(replies[4] == .integer(Int64(round)))
                            #expect(replies[6] == .array([.bulk(Array("round".utf8)), .bulk(Array("\(round)".utf8))]))
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await redis.getString(prefix + "shared").flatMap { Int($0) } ?? 0 > 0)
            #expect(try await redis.hgetall(prefix + "caller0h") == ["round": "20"])
        }
    }

    @Test func aCallerCancelledWhileQueuedNeitherGetsNorStealsAReply() async throws {
        // Deadlines far beyond the test's own steps: the blocking command ends when the test pushes,
        // however slowly a loaded machine runs the steps before.
        try await withSharedRedis("batching-cancel", poolSize: 1, commandTimeout: .seconds(120)) { (redis, prefix) async throws in
            // The blocking command runs alone; the two callers after it wait in line.
            async let busy = outcome { () async throws(RedisError) in
                try await redis.command("BLPOP", RedisArgument(prefix + "empty"), "60")
            }
            try await waitForLoad(redis, waiting: 0, busy: 1)
            let cancelled = Task {
                await outcome { () async throws(RedisError) in try await redis.command("INCR", RedisArgument(prefix + "cancelled")) }
            }
            try await waitForLoad(redis, waiting: 1, busy: 1)
            async let kept = outcome { () async throws(RedisError) in try await redis.command("ECHO", "kept") }
            try await waitForLoad(redis, waiting: 2, busy: 1)
            cancelled.cancel()
            let result = await cancelled.value
            if case .failure(.cancelled) = result {} else { Issue.record("expected cancelled, got \(result)") }
            let releaser = makeClient(try await TestRedis.shared(), poolSize: 1)
            _ = try await releaser.command("LPUSH", RedisArgument(prefix + "empty"), "go")
            await releaser.close()
            #expect(try await busy.get() == .array([.bulk(Array((prefix + "empty").utf8)), .bulk(Array("go".utf8))]))
            #expect(try await kept.get() == .bulk(Array("kept".utf8)))
            // Its command was never sent, and the connection still pairs replies with their callers.
            #expect(try await redis.getString(prefix + "cancelled") == nil)
            #expect(try await redis.command("ECHO", "after") == .bulk(Array("after".utf8)))
            #expect(try await redis.pipeline([["ECHO", "a"], ["ECHO", "b"]]) == [.bulk([UInt8(ascii: "a")]), .bulk([UInt8(ascii: "b")])])
        }
    }

    @Test func aConnectionDroppedMidBatchFailsEveryCallerOfTheBatch() async throws {
        let server = try await TestRedis.privateServer(appendOnly: false)
        // Deadlines far beyond the test's own steps: a stall of the loaded machine must not end the
        // blocking command or the Lua loop before the test does.
        let redis = makeClient(server, poolSize: 1, commandTimeout: .seconds(60))
        let releaser = makeClient(server, poolSize: 1)
        do {
            #expect(try await redis.command("PING") == .status("PONG"))
            // While a blocking command holds the connection, callers line up; the next batch takes them
            // all, and its first command (a Lua loop) keeps the server busy until the server is killed.
            async let busy = outcome { () async throws(RedisError) in try await redis.command("BLPOP", "empty", "50") }
            try await waitForLoad(redis, waiting: 0, busy: 1)
            async let slow = outcome { () async throws(RedisError) in
                try await redis.command("EVAL", "local i = 0 while i < 3e9 do i = i + 1 end return i", "0")
            }
            try await waitForLoad(redis, waiting: 1, busy: 1)
            async let single = outcome { () async throws(RedisError) in try await redis.command("INCR", "counter") }
            async let pipelined = outcome { () async throws(RedisError) in
                try await redis.pipeline([["ECHO", "a"], ["INCR", "counter"]])
            }
            try await waitForLoad(redis, waiting: 3, busy: 1)
            _ = try await releaser.command("LPUSH", "empty", "go")
            await releaser.close()
            #expect(try await busy.get() == .array([.bulk(Array("empty".utf8)), .bulk(Array("go".utf8))]))
            try await waitForLoad(redis, waiting: 0, busy: 1)  // the next batch left the line
            try await Task.sleep(for: .milliseconds(700))  // and reached the server (busy in Lua, it answers no probe)
            await server.kill()
            let failures: [RedisError?] = [
                await slow.failure, await single.failure, await pipelined.failure,
            ]
            for failure in failures {
                if case .connectionLost? = failure {} else { Issue.record("expected connectionLost, got \(String(describing: failure))") }
                #expect(failure?.isRetriable == true)
            }
            try await server.restart()
            TestRedis.register(server)
            #expect(try await redis.command("PING") == .status("PONG"))
            #expect(try await redis.pipeline([["ECHO", "a"], ["ECHO", "b"]]) == [.bulk([UInt8(ascii: "a")]), .bulk([UInt8(ascii: "b")])])
        } catch {
            await releaser.close()
            await redis.close()
            await server.stop()
            throw error
        }
        await redis.close()
        await server.stop()
        try? FileManager.default.removeItem(at: server.dataDirectory)
    }

    @Test func repliesReadAsViews() async throws {
        try await withSharedRedis("batching-views", poolSize: 1) { (redis, prefix) async throws in
            let key = RedisArgument(prefix + "hash")
            try await redis.hset(prefix + "hash", fields: ["a": "1", "b": RedisArgument(bytes: [0xFF, 0x00, 0x41])])
            let reply = try await redis.reply(["HGETALL", key])
            #expect(reply.kind == .array)
            #expect(reply.fields == ["a": "1", "b": "\u{FFFD}\u{0}A"])
            #expect(reply.elements?.count == 4)
            let nested = try await redis.reply(["EVAL", "return {1, {'x', {}}, 'y'}", "0"])
            #expect(nested.value == .array([.integer(1), .array([.bulk([UInt8(ascii: "x")]), .array([])]), .bulk([UInt8(ascii: "y")])]))
            #expect(nested.elements?.last?.string == "y")
            #expect(nested.strings == ["y"])
            #expect(try await redis.reply(["GET", RedisArgument(prefix + "missing")]).isNull)
        }
    }
}

extension Result {
    /// The error of a failure; nil for a success.
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { error } else { nil }
    }
}
