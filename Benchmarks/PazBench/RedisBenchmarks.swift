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
        let single = try RedisBenchmarkFloor.measure(host: redis.configuration.host, port: redis.configuration.port, key: key, clients: 1, requests: calls)
        print("  redis-benchmark -c 1: p50 \(format(single.p50)) ms, p99 \(format(single.p99)) ms, \(Int(single.requestsPerSecond)) requests/s")

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
        let concurrent = try RedisBenchmarkFloor.measure(
            host: redis.configuration.host, port: redis.configuration.port, key: key, clients: callers, requests: calls)
        print("  redis-benchmark -c \(callers): \(Int(concurrent.requestsPerSecond)) requests/s, p50 \(format(concurrent.p50)) ms, p99 \(format(concurrent.p99)) ms")
        print("redis-hgetall: \(format(p99)) ms")
    }

    private func milliseconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }

    private func format(_ value: Double) -> String { String(format: "%.3f", value) }
}

/// `redis-benchmark` (Debian's redis-tools) sending the same `HGETALL` to the same server: the floor a
/// client in C reaches, one request per client at a time (no pipelining).
enum RedisBenchmarkFloor {
    /// What one run measured.
    struct Result {
        var requestsPerSecond: Double
        var p50: Double
        var p99: Double
    }

    /// Runs `redis-benchmark -h host -p port -n requests -c clients --csv HGETALL key` (loopback only).
    static func measure(host: String, port: Int, key: String, clients: Int, requests: Int) throws -> Result {
        guard host.hasPrefix("127.") else { throw BenchError("redis-benchmark targets loopback only, not \(host)") }
        guard let executable = ManagedProcess.locate("redis-benchmark") else {
            throw BenchError("redis-benchmark not found: apt-get install redis-tools (deploy/install-deps.sh installs it)")
        }
        let directory = try ScratchDirectory.make(prefix: "paz-bench-redis-benchmark")
        defer { try? FileManager.default.removeItem(at: directory) }
        let output = directory.appendingPathComponent("output")
        let arguments = ["-h", host, "-p", String(port), "-n", String(requests), "-c", String(clients), "--csv", "HGETALL", key]
        let process = try ManagedProcess(executable: executable, arguments: arguments, logFile: output)
        let status = process.waitUntilExit()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        guard status == 0 else { throw BenchError("redis-benchmark exited with \(status):\n\(text)") }
        return try parse(text)
    }

    /// Reads the `--csv` output: a header line naming the columns (`rps`, `p50_latency_ms`,
    /// `p99_latency_ms`…), then one line per test.
    static func parse(_ text: String) throws -> Result {
        let rows = text.split(whereSeparator: \.isNewline).map { line in
            line.split(separator: ",").map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        }
        guard let header = rows.firstIndex(where: { $0.contains("rps") }), header + 1 < rows.count else {
            throw BenchError("could not read redis-benchmark's output:\n\(text)")
        }
        let columns = rows[header]
        let values = rows[header + 1]
        func value(_ name: String) throws -> Double {
            guard let index = columns.firstIndex(of: name), index < values.count, let value = Double(values[index]) else {
                throw BenchError("redis-benchmark's output has no \(name):\n\(text)")
            }
            return value
        }
        return Result(requestsPerSecond: try value("rps"), p50: try value("p50_latency_ms"), p99: try value("p99_latency_ms"))
    }
}
