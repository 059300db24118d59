import ArgumentParser
import Foundation
import PazLocalServers
import PazRedis

/// `paz-bench redis-hgetall`: HGETALL of a 100-field hash on a private redis-server.
///
/// Prints p50/p99 latency of one caller, then calls/s through the pool with several concurrent
/// callers, each beside the floor `redis-benchmark` measures for the same hash on the same server in
/// the same run (`-c 1`, then `-c <callers>`); the last line is `redis-hgetall: <p99> ms`.
struct RedisHGetAllBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "redis-hgetall",
        abstract: "HGETALL of a 100-field hash: p50/p99 per call (one caller) and calls/s through the pool."
    )

    @Option(help: "Measured calls of the single caller.")
    var calls = 20_000

    @Option(help: "Concurrent callers for the throughput phase.")
    var callers = 16

    @Option(help: "Calls per caller in the throughput phase.")
    var callsPerCaller = 5_000

    @Option(help: "Connections in the pool.")
    var poolSize = 4

    func run() async throws {
        let server = try await RedisServer.start(options: .init(appendOnly: false))
        let redis = RedisClient(configuration: RedisConfiguration(host: server.host, port: server.port, poolSize: poolSize))
        do {
            try await measure(redis)
        } catch {
            await redis.close()
            await server.stop()
            throw error
        }
        await redis.close()
        await server.stop()
        try? FileManager.default.removeItem(at: server.dataDirectory)
    }

    private func measure(_ redis: RedisClient) async throws {
        let key = "bench:hash"
        var fields: [String: RedisArgument] = [:]
        for index in 0..<100 { fields["field-\(index)"] = RedisArgument("value-\(index)-" + String(repeating: "x", count: 20)) }
        try await redis.hset(key, fields: fields)
        guard try await redis.hgetall(key).count == 100 else { throw ValidationError("the hash does not have 100 fields") }

        for _ in 0..<1_000 { _ = try await redis.hgetall(key) }  // warm-up
        var latencies: [Duration] = []
        latencies.reserveCapacity(calls)
        let clock = ContinuousClock()
        for _ in 0..<calls {
            let start = clock.now
            _ = try await redis.hgetall(key)
            latencies.append(clock.now - start)
        }
        latencies.sort()
        let p50 = milliseconds(latencies[latencies.count / 2])
        let p99 = milliseconds(latencies[min(latencies.count - 1, latencies.count * 99 / 100)])
        print("single caller: \(calls) calls, p50 \(format(p50)) ms, p99 \(format(p99)) ms")
        let floor = RedisBenchmarkTool(port: redis.configuration.port, requests: calls)
        let single = try floor.run(["HGETALL", key], clients: 1)
        print("  redis-benchmark -c 1, same hash: p50 \(format(single.p50Milliseconds)) ms, \(Int(single.requestsPerSecond)) requests/s")

        let total = callers * callsPerCaller
        let elapsed = try await clock.measure {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<callers {
                    group.addTask {
                        for _ in 0..<callsPerCaller { _ = try await redis.hgetall(key) }
                    }
                }
                try await group.waitForAll()
            }
        }
        let rate = Double(total) / (milliseconds(elapsed) / 1000)
        print("pool of \(poolSize), \(callers) callers: \(total) calls in \(format(milliseconds(elapsed))) ms, \(Int(rate)) calls/s")
        let concurrent = try floor.run(["HGETALL", key], clients: callers)
        print("  redis-benchmark -c \(callers), same hash: \(Int(concurrent.requestsPerSecond)) requests/s, p50 \(format(concurrent.p50Milliseconds)) ms")
        print("redis-hgetall: \(format(p99)) ms")
    }

    private func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }

    private func format(_ value: Double) -> String { String(format: "%.3f", value) }
}
