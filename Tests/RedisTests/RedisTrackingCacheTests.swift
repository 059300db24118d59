import Foundation
import PazLocalServers
import PazRedis
import PazTestSupport
import Testing

/// Client-side caching: a hit makes no round trip, and no read answers older than Redis once the
/// write's event-loop turn is over — right after a write by another client, while writes race the
/// reads, and across a lost subscription.
///
/// Redis writes the replies of one turn in an order of its own, so a writer may receive its reply a
/// moment before the subscriber receives the invalidation. The writers here follow each write with a
/// `PING` of its own round trip (answered in a later turn, after every output of the write's turn was
/// written) before they read through the cache.
@Suite("Redis: the tracking cache")
struct RedisTrackingCacheTests {
    @Test func hitsStayInProcessAndEveryWriteIsSeenByTheNextRead() async throws {
        try await withPrivateCache { _, writer, cache in
            _ = try await writer.set("k", "v0")
            #expect(try await cache.get("k") == Array("v0".utf8))
            let before = try await calls(of: "get", on: writer)
            for _ in 0..<200 { #expect(try await cache.get("k") == Array("v0".utf8)) }
            // At most one more read: the first may race the invalidation of the cache's own SET above.
            #expect(try await calls(of: "get", on: writer) - before <= 1)

            for round in 1...300 {
                if round % 3 == 0 {
                    try await writeAndWait(writer, ["HSET", "h", "f", RedisArgument("\(round)")])
                    #expect(try await cache.hget("h", field: "f") == Array("\(round)".utf8))
                } else {
                    try await writeAndWait(writer, ["SET", "k", RedisArgument("v\(round)")])
                    let read = try await cache.get("k").map { String(decoding: $0, as: UTF8.self) }
                    #expect(read == "v\(round)")
                }
            }
            try await writeAndWait(writer, ["DEL", "k"])
            #expect(try await cache.get("k") == nil)
            try await writeAndWait(writer, ["SET", "k", "back"])
            #expect(try await cache.get("k") == Array("back".utf8))

            // A missing field is not kept: each look is a read (guesses must not fill the cache).
            let hgets = try await calls(of: "hget", on: writer)
            for _ in 0..<5 { #expect(try await cache.hget("h", field: "nobody") == nil) }
            #expect(try await calls(of: "hget", on: writer) - hgets == 5)
        }
    }

    @Test func concurrentWritersAndReadersNeverSeeAnOlderValue() async throws {
        try await withPrivateCache { _, writer, cache in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for task in 0..<8 {
                    group.addTask {
                        // One hash for all tasks: every task's write invalidates every other task's field.
                        for round in 1...150 {
                            try await writeAndWait(writer, ["HSET", "shared", RedisArgument("t\(task)"), RedisArgument(round)])
                            #expect(try await cache.hget("shared", field: "t\(task)") == Array("\(round)".utf8))
                            #expect(try await cache.hget("shared", field: "t\(task)") == Array("\(round)".utf8))
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
    }

    @Test func aLostSubscriptionSendsReadsToRedisUntilItIsBack() async throws {
        try await withPrivateCache { server, writer, cache in
            _ = try await writer.set("k", "before")
            #expect(try await cache.get("k") == Array("before".utf8))
            // The subscriber goes; Redis stops tracking for it. A write now is announced to nobody.
            _ = try await writer.command("CLIENT", "KILL", "TYPE", "pubsub")
            _ = try await writer.set("k", "after")
            #expect(try await cache.get("k") == Array("after".utf8))
            // The listener subscribes again and the cache serves hits again.
            let deadline = ContinuousClock.now + .seconds(30)
            var hitsAgain = false
            while !hitsAgain && ContinuousClock.now < deadline {
                #expect(try await cache.get("k") == Array("after".utf8))
                let before = try await calls(of: "get", on: writer)
                for _ in 0..<20 { #expect(try await cache.get("k") == Array("after".utf8)) }
                hitsAgain = try await calls(of: "get", on: writer) - before <= 1
                if !hitsAgain { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(hitsAgain, "the cache never served hits again after its subscription came back")
            try await writeAndWait(writer, ["SET", "k", "later"])
            #expect(try await cache.get("k") == Array("later".utf8))

            // A restarted server (nothing of the old tracking left) is followed too.
            await server.kill()
            try await server.restart()
            TestRedis.register(server)
            _ = try await writer.set("k", "restarted")
            #expect(try await cache.get("k") == Array("restarted".utf8))
        }
    }

    /// A private server (its `INFO commandstats` counts only this test), a plain client and a cache.
    private func withPrivateCache(_ body: (RedisServer, RedisClient, RedisTrackingCache) async throws -> Void) async throws {
        let server = try await TestRedis.privateServer(appendOnly: false)
        let writer = makeClient(server, poolSize: 2)
        let cache = RedisTrackingCache(client: makeClient(server, poolSize: 1))
        do {
            try await body(server, writer, cache)
        } catch {
            await cache.close()
            await writer.close()
            await server.stop()
            throw error
        }
        await cache.close()
        await writer.close()
        await server.stop()
    }

    /// Runs `command`, then a `PING` of its own: the PING is read in a later event-loop turn than
    /// the write, so its answer comes after everything the write's turn sent (the invalidations).
    private func writeAndWait(_ redis: RedisClient, _ command: [RedisArgument]) async throws {
        _ = try await redis.command(command)
        _ = try await redis.command("PING")
    }

    /// How many times the server ran `command` (`INFO commandstats`).
    private func calls(of command: String, on redis: RedisClient) async throws -> Int {
        let info = try await redis.command("INFO", "commandstats").string ?? ""
        guard let line = info.split(whereSeparator: \.isNewline).first(where: { $0.hasPrefix("cmdstat_\(command):calls=") }),
            let count = Int(line.dropFirst("cmdstat_\(command):calls=".count).prefix { $0.isNumber })
        else { return 0 }
        return count
    }
}
