import Foundation
import Logging
import PazLocalServers
import PazRedis
import PazTestSupport
import Testing

@Suite("Redis connections: pool, reconnect, timeouts, auth")
struct RedisConnectionTests {
    @Test func poolServesFiftyConcurrentTasks() async throws {
        try await withSharedRedis("pool", poolSize: 4) { (redis, prefix) async throws in
            let results = try await withThrowingTaskGroup(of: [Int64].self) { group in
                for task in 0..<50 {
                    group.addTask {
                        var values: [Int64] = []
                        for _ in 0..<100 {
                            values.append(try await redis.increment("\(prefix)task\(task)"))
                            try await redis.command("INCR", RedisArgument(prefix + "total"))
                        }
                        return values
                    }
                }
                var all: [[Int64]] = []
                for try await values in group { all.append(values) }
                return all
            }
            #expect(results.count == 50)
            for values in results { #expect(values == Array(1...100)) }
            #expect(try await redis.getString(prefix + "total") == "5000")
        }
    }

    @Test func waitingCallersAreBounded() async throws {
        let server = try await TestRedis.shared()
        let redis = makeClient(server, poolSize: 1, maxWaiters: 0)
        let prefix = TestRedis.keyPrefix("bounded")
        async let blocked = redis.command("BLPOP", RedisArgument(prefix + "nothing"), "3")
        try await waitForLoad(redis, waiting: 0, busy: 1)
        let error = await #expect(throws: RedisError.self) { try await redis.command("PING") }
        if case .poolExhausted = error {} else { Issue.record("expected poolExhausted, got \(String(describing: error))") }
        #expect(error?.isRetriable == true)
        #expect(try await blocked == .null)
        #expect(try await redis.command("PING") == .status("PONG"))
        await redis.close()
        let closed = await #expect(throws: RedisError.self) { try await redis.command("PING") }
        if case .closed = closed {} else { Issue.record("expected closed, got \(String(describing: closed))") }
    }

    @Test func commandTimeoutDropsTheConnectionAndTheNextCommandReconnects() async throws {
        try await withSharedRedis("timeout", poolSize: 1, commandTimeout: .milliseconds(300)) { (redis, prefix) async throws in
            let started = ContinuousClock.now
            let error = await #expect(throws: RedisError.self) {
                try await redis.command("BLPOP", RedisArgument(prefix + "empty"), "30")
            }
            #expect(ContinuousClock.now - started < .seconds(10))  // the 300 ms timeout, not BLPOP's 30 s
            if case .timeout = error {} else { Issue.record("expected timeout, got \(String(describing: error))") }
            #expect(error?.isRetriable == true)
            #expect(try await redis.set(prefix + "after", "ok"))
            #expect(try await redis.getString(prefix + "after") == "ok")
        }
    }

    @Test func connectionKilledMidCommandIsRetriableAndReplaced() async throws {
        let server = try await TestRedis.shared()
        let prefix = TestRedis.keyPrefix("killed")
        let victim = makeClient(server, poolSize: 1, commandTimeout: .seconds(60))
        let killer = makeClient(server, poolSize: 1)
        let id = try #require(try await victim.command("CLIENT", "ID").integer)
        async let blocked = outcome { () async throws(RedisError) in
            try await victim.command("BLPOP", RedisArgument(prefix + "empty"), "30")
        }
        try await waitUntilBlocked(client: id, seenBy: killer)
        #expect(try await killer.command("CLIENT", "KILL", "ID", RedisArgument(Int(id))) == .integer(1))
        switch await blocked {
        case .success(let value):
            Issue.record("BLPOP should have failed, returned \(value)")
        case .failure(let error):
            if case .connectionLost(address: _, let code, message: _) = error {
                #expect(code == 3 || code == 1)  // REDIS_ERR_EOF or REDIS_ERR_IO
            } else {
                Issue.record("expected connectionLost, got \(error)")
            }
            #expect(error.isRetriable)
        }
        let newID = try #require(try await victim.command("CLIENT", "ID").integer)
        #expect(newID != id)
        await victim.close()
        await killer.close()
    }

    @Test func idempotentCommandIsResentAfterItsConnectionDropped() async throws {
        let server = try await TestRedis.shared()
        let prefix = TestRedis.keyPrefix("resend")
        let list = RedisArgument(prefix + "jobs")
        let victim = makeClient(server, poolSize: 1, commandTimeout: .seconds(60))
        let killer = makeClient(server, poolSize: 1)
        let id = try #require(try await victim.command("CLIENT", "ID").integer)
        async let popped = outcome { () async throws(RedisError) in
            try await victim.command(["BLPOP", list, "30"], idempotent: true)
        }
        try await waitUntilBlocked(client: id, seenBy: killer)
        #expect(try await killer.command("CLIENT", "KILL", "ID", RedisArgument(Int(id))) == .integer(1))
        try await killer.command("RPUSH", list, "job-1")
        // The BLPOP was re-sent on a new connection and received the job pushed after the kill.
        #expect(try await popped.get() == .array([.bulk(list.bytes), .bulk(Array("job-1".utf8))]))
        #expect(try await victim.command("CLIENT", "ID").integer != id)
        await victim.close()
        await killer.close()
    }

    @Test func killedServerRestartsWithItsAOFData() async throws {
        let server = try await TestRedis.privateServer(appendOnly: true)
        let redis = makeClient(server, poolSize: 1)
        do {
            #expect(try await redis.set("survivor", "yes"))
            try await redis.xadd("audit", fields: ["event": "issued"])
            await server.kill()  // SIGKILL: the AOF was written (not yet fsynced) before the reply came
            try await server.restart()
            TestRedis.register(server)
            #expect(try await redis.getString("survivor") == "yes")
            #expect(try await redis.xrange("audit").map(\.fields) == [["event": "issued"]])
        } catch {
            await redis.close()
            await server.stop()
            throw error
        }
        await redis.close()
        await server.stop()
        try? FileManager.default.removeItem(at: server.dataDirectory)
    }

    @Test func restartedServerKeepsAOFDataAndClientReconnects() async throws {
        let server = try await TestRedis.privateServer(appendOnly: true)
        let redis = RedisClient(
            configuration: RedisConfiguration(
                host: server.host, port: server.port, connectTimeout: .milliseconds(500), poolSize: 2,
                reconnectDelay: .milliseconds(20), maxReconnectDelay: .milliseconds(200)
            )
        )
        do {
            #expect(try await redis.hset("machine:m1", fields: ["state": "running", "observedAt": "1"]) == 2)
            #expect(try await redis.increment("counter") == 1)
            // Use both pooled connections so both are open when the server goes away.
            let both = try await withThrowingTaskGroup(of: RedisValue.self) { group in
                for _ in 0..<2 { group.addTask { try await redis.command("BLPOP", "nothing", "0.2") } }
                var replies: [RedisValue] = []
                for try await reply in group { replies.append(reply) }
                return replies
            }
            #expect(both == [.null, .null])

            await server.stop()
            let down = await #expect(throws: RedisError.self) { try await redis.increment("counter") }
            if case .connectionFailed = down {} else { Issue.record("expected connectionFailed, got \(String(describing: down))") }
            #expect(down?.isRetriable == true)

            try await server.restart()
            TestRedis.register(server)
            // Connections closed by the old server are noticed before sending and replaced.
            #expect(try await redis.increment("counter") == 2)
            #expect(try await redis.increment("counter") == 3)
            #expect(try await redis.hgetall("machine:m1") == ["state": "running", "observedAt": "1"])
            let appendOnly = try await redis.command("CONFIG", "GET", "appendonly")
            #expect(appendOnly.array?.last?.string == "yes")
        } catch {
            await redis.close()
            await server.stop()
            throw error
        }
        await redis.close()
        await server.stop()
        try? FileManager.default.removeItem(at: server.dataDirectory)
    }

    @Test func passwordIsCheckedAndNeverLogged() async throws {
        let password = "s3cret-\(UUID().uuidString)"
        let server = try await RedisServer.start(options: .init(appendOnly: false, password: password))
        TestRedis.register(server)
        let storage = CapturingLogHandler.Storage()
        let logger = Logger(label: "test.redis.auth") { _ in CapturingLogHandler(storage: storage) }

        let wrong = makeClient(server, password: "wrong-\(password)", logger: logger)
        let error = await #expect(throws: RedisError.self) { try await wrong.command("PING") }
        if case .authenticationFailed = error {} else { Issue.record("expected authenticationFailed, got \(String(describing: error))") }
        #expect(error?.isRetriable == false)
        #expect(error.map { "\($0)".contains(password) } == false)
        await wrong.close()

        let right = makeClient(server, password: password, logger: logger)
        #expect(try await right.command("PING") == .status("PONG"))
        await right.close()

        #expect(!storage.all.isEmpty)
        #expect(storage.all.allSatisfy { !$0.contains(password) })
        await server.stop()
        try? FileManager.default.removeItem(at: server.dataDirectory)
    }
}
