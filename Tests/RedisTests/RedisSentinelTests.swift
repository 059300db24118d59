import Foundation
import Logging
import PazLocalServers
import PazRedis
import Testing

/// A primary, its replica and three sentinels on loopback, private to one test (they are failed over
/// and killed).
private struct SentinelGroup {
    static let masterName = "paz-test"
    let primary: RedisServer
    let replica: RedisServer
    let sentinels: [RedisSentinelServer]

    static func start() async throws -> SentinelGroup {
        let primary = try await RedisServer.start(options: .init(appendOnly: false))
        let replica = try await RedisServer.start(options: .init(appendOnly: false, replicaOf: primary.port))
        var sentinels: [RedisSentinelServer] = []
        // A failover timeout of 3 s: when the sentinels' first election splits its votes (seen in CI,
        // under load), the next one comes after twice this timeout, within the tests' deadlines.
        for _ in 0..<3 {
            sentinels.append(try await RedisSentinelServer.start(
                primaryPort: primary.port, options: .init(masterName: masterName, failoverTimeout: .seconds(3))))
        }
        let group = SentinelGroup(primary: primary, replica: replica, sentinels: sentinels)
        try await group.waitUntilEverySentinelKnowsTheReplicaAndTheOthers()
        return group
    }

    /// Runs `body` with a fresh group and a Sentinel client of it; stops both however `body` ends.
    static func with(_ body: (SentinelGroup, RedisClient) async throws -> Void) async throws {
        let group = try await start()
        let client = group.client()
        do {
            try await body(group, client)
        } catch {
            await client.close()
            await group.stop()
            throw error
        }
        await client.close()
        await group.stop()
    }

    func stop() async {
        for sentinel in sentinels { await sentinel.stop() }
        await primary.stop()
        await replica.stop()
    }

    /// A client that finds the primary through the sentinels.
    func client(logger: Logger = Logger(label: "test.redis.sentinel")) -> RedisClient {
        RedisClient(
            configuration: RedisConfiguration(
                poolSize: 2, maxReconnectDelay: .milliseconds(500),
                sentinel: RedisSentinelConfiguration(
                    sentinels: sentinels.map { RedisEndpoint(host: $0.host, port: $0.port) }, masterName: Self.masterName)),
            logger: logger)
    }

    /// A plain client of one server or sentinel.
    static func direct(_ port: Int) -> RedisClient {
        RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: port, poolSize: 1))
    }

    /// What `port` (a server) says it is: "master" or "slave".
    static func role(_ port: Int) async throws -> String? {
        let client = direct(port)
        defer { Task { await client.close() } }
        return try await client.reply(["ROLE"]).elements?.first?.string
    }

    /// The primary's port as the first sentinel names it.
    func primaryPortNamedBySentinels() async throws -> Int? {
        let client = Self.direct(sentinels[0].port)
        defer { Task { await client.close() } }
        return try await client.reply(["SENTINEL", "get-master-addr-by-name", RedisArgument(Self.masterName)]).strings.flatMap { Int($0[1]) }
    }

    private func waitUntilEverySentinelKnowsTheReplicaAndTheOthers() async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        for sentinel in sentinels {
            let client = Self.direct(sentinel.port)
            defer { Task { await client.close() } }
            while true {
                let replicas = try await client.reply(["SENTINEL", "replicas", RedisArgument(Self.masterName)]).elements?.count ?? 0
                let others = try await client.reply(["SENTINEL", "sentinels", RedisArgument(Self.masterName)]).elements?.count ?? 0
                if replicas == 1 && others == 2 { break }
                guard ContinuousClock.now < deadline else {
                    throw RedisError.protocolError("sentinel \(sentinel.port) knows \(replicas) replicas, \(others) sentinels")
                }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}

@Suite("Redis: the primary found and followed through Sentinel", .serialized)
struct RedisSentinelTests {
    @Test("finds the primary; after SENTINEL FAILOVER the same client writes only to the new primary, without an error")
    func followsAFailover() async throws {
        try await SentinelGroup.with { group, client in
            // Both pooled connections are made to the first primary.
            async let first = client.set("before-1", "1")
            async let second = client.set("before-2", "1")
            _ = try await (first, second)
            // Replication is asynchronous: wait until the replica has them, as a careful writer would.
            #expect(try await client.command("WAIT", "1", "5000") == .integer(1))
            let onPrimary = SentinelGroup.direct(group.primary.port)
            #expect(try await onPrimary.get("before-1") == Array("1".utf8))
            await onPrimary.close()

            let sentinel = SentinelGroup.direct(group.sentinels[1].port)
            try await sentinel.command(["SENTINEL", "FAILOVER", RedisArgument(SentinelGroup.masterName)])
            await sentinel.close()
            // The switch is over when the sentinels name the replica and the old primary replicates it.
            let deadline = ContinuousClock.now + .seconds(30)
            while ContinuousClock.now < deadline {
                if try await group.primaryPortNamedBySentinels() == group.replica.port,
                    try await SentinelGroup.role(group.primary.port) == "slave"
                { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            #expect(try await SentinelGroup.role(group.replica.port) == "master")
            #expect(try await SentinelGroup.role(group.primary.port) == "slave")

            // Every write through the old connections' client succeeds, on the new primary.
            for _ in 0..<50 { _ = try await client.increment("counter") }
            let onNew = SentinelGroup.direct(group.replica.port)
            #expect(try await onNew.get("counter") == Array("50".utf8))
            #expect(try await onNew.get("before-2") == Array("1".utf8))
            await onNew.close()
        }
    }

    @Test("kill -9 of the primary: the sentinels promote the replica and the client writes again within 10 s")
    func followsThePrimarysCrash() async throws {
        try await SentinelGroup.with { group, client in
            try await client.set("before", "1")
            #expect(try await client.command("WAIT", "1", "5000") == .integer(1))
            await group.primary.kill()
            let killed = ContinuousClock.now
            var recovered: Duration?
            while recovered == nil, ContinuousClock.now - killed < .seconds(15) {
                do {
                    try await client.set("after", "1")
                    recovered = ContinuousClock.now - killed
                } catch {
                    #expect((error as? RedisError)?.isRetriable == true, "\(error)")
                    try await Task.sleep(for: .milliseconds(50))
                }
            }
            let took = try #require(recovered, "no write succeeded within 15 s of the kill")
            #expect(took < .seconds(10), "the first write after the kill succeeded after \(took)")
            #expect(try await group.primaryPortNamedBySentinels() == group.replica.port)
            let onNew = SentinelGroup.direct(group.replica.port)
            #expect(try await onNew.get("after") == Array("1".utf8))
            #expect(try await onNew.get("before") == Array("1".utf8), "the replica had the write made before the kill")
            await onNew.close()
        }
    }

    @Test("sentinels that do not know the master name: a clear, retriable error naming them")
    func unknownMasterName() async throws {
        let group = try await SentinelGroup.start()
        let client = RedisClient(configuration: RedisConfiguration(
            sentinel: RedisSentinelConfiguration(
                sentinels: group.sentinels.map { RedisEndpoint(host: $0.host, port: $0.port) }, masterName: "nobody")))
        let error = await #expect(throws: RedisError.self) { try await client.set("k", "v") }
        #expect(error?.isRetriable == true)
        #expect("\(error.map { "\($0)" } ?? "")".contains("does not monitor 'nobody'"))
        await client.close()
        await group.stop()
    }
}
