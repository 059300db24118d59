import Foundation
import PazLocalServers
import PazRedis
import PazTestSupport
import Testing

/// Failing fast: no command waits behind reconnect backoffs while Redis is down, and no caller waits
/// for a pooled connection past its deadline or its cancellation. Timing bounds are generous (the
/// suite runs in parallel on 2 cores); `paz-bench fail-fast` measures the real figures.
@Suite("Redis: failing fast while down, bounded pool waits")
struct RedisFailFastTests {
    @Test func downServerFailsCommandsAtOnceAndOneCallerReconnects() async throws {
        let server = try await TestRedis.privateServer(appendOnly: false)
        let redis = RedisClient(configuration: RedisConfiguration(
            host: server.host, port: server.port, connectTimeout: .milliseconds(500), poolSize: 4,
            // A backoff long enough that a loaded machine still checks within it (CI saw 300 ms pass,
            // a run starting a dozen RabbitMQ nodes at once over 2 s).
            reconnectDelay: .seconds(6), maxReconnectDelay: .seconds(8)))
        do {
            #expect(try await redis.command("PING") == .status("PONG"))
            #expect(!redis.isUnavailable)
            await server.stop()

            let first = await #expect(throws: RedisError.self) { try await redis.command("PING") }
            if case .connectionFailed = first {} else { Issue.record("expected connectionFailed, got \(String(describing: first))") }
            #expect(redis.isUnavailable)

            // Within the backoff window every command fails without touching the network.
            let started = ContinuousClock.now
            let failures = await withTaskGroup(of: RedisError?.self) { group in
                for _ in 0..<100 {
                    group.addTask {
                        do throws(RedisError) {
                            try await redis.command("PING")
                            return nil
                        } catch {
                            return error
                        }
                    }
                }
                var errors: [RedisError?] = []
                for await error in group { errors.append(error) }
                return errors
            }
            let elapsed = ContinuousClock.now - started
            #expect(elapsed < .seconds(10), "100 commands against a down server took \(elapsed)")  // backoffs in line would take far longer
            #expect(failures.allSatisfy { $0?.isRetriable == true })
            let unavailable = failures.filter { if case .unavailable = $0 { true } else { false } }
            #expect(unavailable.count >= 90, "\(failures.map { "\(String(describing: $0))" })")
            if case .unavailable(let address, let reason, let retryIn)? = unavailable.first {
                #expect(address == "127.0.0.1:\(server.port)")
                #expect(!reason.isEmpty)
                #expect(retryIn <= .seconds(8))
            }

            try await server.restart()
            TestRedis.register(server)
            // After the backoff one command reconnects; then all pass again.
            let deadline = ContinuousClock.now + .seconds(30)
            var answered = false
            while !answered && ContinuousClock.now < deadline {
                answered = (try? await redis.command("PING")) == .status("PONG")
                if !answered { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(answered)
            #expect(!redis.isUnavailable)
            #expect(try await redis.command("PING") == .status("PONG"))
        } catch {
            await redis.close()
            await server.stop()
            throw error
        }
        await redis.close()
        await server.stop()
        try? FileManager.default.removeItem(at: server.dataDirectory)
    }

    @Test func waitingForAConnectionHasADeadline() async throws {
        let server = try await TestRedis.shared()
        let prefix = TestRedis.keyPrefix("acquire-deadline")
        let redis = makeClient(server, poolSize: 1, commandTimeout: .seconds(30), acquireTimeout: .milliseconds(300))
        async let busy = outcome { () async throws(RedisError) in
            try await redis.command("BLPOP", RedisArgument(prefix + "empty"), "15")
        }
        try await waitForLoad(redis, waiting: 0, busy: 1)
        let started = ContinuousClock.now
        let error = await #expect(throws: RedisError.self) { try await redis.command("PING") }
        let waited = ContinuousClock.now - started
        if case .acquireTimeout(_, let after) = error {
            #expect(after == .milliseconds(300))
        } else {
            Issue.record("expected acquireTimeout, got \(String(describing: error))")
        }
        #expect(error?.isRetriable == true)
        // Bounds with room for a loaded machine; without the deadline it would wait the 15 s BLPOP out.
        #expect(waited >= .milliseconds(250) && waited < .seconds(10), "waited \(waited)")
        #expect(try await busy.get() == .null)
        #expect(try await redis.command("PING") == .status("PONG"))
        await redis.close()
    }

    @Test func aCancelledWaiterLeavesTheLineAtOnce() async throws {
        let server = try await TestRedis.shared()
        let prefix = TestRedis.keyPrefix("acquire-cancel")
        let redis = makeClient(server, poolSize: 1, commandTimeout: .seconds(30), acquireTimeout: .seconds(30))
        async let busy = outcome { () async throws(RedisError) in
            try await redis.command("BLPOP", RedisArgument(prefix + "empty"), "15")
        }
        try await waitForLoad(redis, waiting: 0, busy: 1)
        let waiter = Task { () async -> (Result<RedisValue, RedisError>, Duration) in
            let started = ContinuousClock.now
            let result = await outcome { () async throws(RedisError) in try await redis.command("PING") }
            return (result, ContinuousClock.now - started)
        }
        try await waitForLoad(redis, waiting: 1, busy: 1)
        let cancelled = ContinuousClock.now
        waiter.cancel()
        let (result, _) = await waiter.value
        let afterCancel = ContinuousClock.now - cancelled
        if case .failure(.cancelled) = result {} else { Issue.record("expected cancelled, got \(result)") }
        // Without leaving the line it would wait the 15 s BLPOP out.
        #expect(afterCancel < .seconds(10), "the cancelled waiter returned \(afterCancel) after the cancel")
        #expect(try await busy.get() == .null)
        // The cancelled waiter is gone from the line: the connection goes back to the pool.
        #expect(try await redis.command("PING") == .status("PONG"))
        await redis.close()
    }
}
