import Logging
import PazLocalServers
import PazRedis
import PazTestSupport
import Synchronization
import Testing

/// A client of `server` (callers close it).
func makeClient(
    _ server: RedisServer, poolSize: Int = 2, commandTimeout: Duration = .seconds(5), maxWaiters: Int = 10_000,
    acquireTimeout: Duration = .seconds(10), password: String? = nil, logger: Logger = Logger(label: "test.redis")
) -> RedisClient {
    RedisClient(
        configuration: RedisConfiguration(
            host: server.host, port: server.port, password: password, commandTimeout: commandTimeout,
            poolSize: poolSize, maxWaiters: maxWaiters, acquireTimeout: acquireTimeout
        ),
        logger: logger
    )
}

/// Runs `body` with a client of the shared server and a key prefix of its own, then closes the client.
func withSharedRedis(
    _ name: String, poolSize: Int = 2, commandTimeout: Duration = .seconds(5),
    _ body: (RedisClient, String) async throws -> Void
) async throws {
    let server = try await TestRedis.shared()
    let client = makeClient(server, poolSize: poolSize, commandTimeout: commandTimeout)
    do {
        try await body(client, TestRedis.keyPrefix(name))
    } catch {
        await client.close()
        throw error
    }
    await client.close()
}

/// A log handler that keeps every rendered line (message and metadata) in memory.
struct CapturingLogHandler: LogHandler {
    final class Storage: Sendable {
        let lines = Mutex<[String]>([])
        var all: [String] { lines.withLock { $0 } }
    }

    let storage: Storage
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        storage.lines.withLock { $0.append("\(event.level) \(event.message) \(merged)") }
    }
}

/// The outcome of `body` as a value, for `async let` (whose errors are untyped).
func outcome<Value>(_ body: () async throws(RedisError) -> Value) async -> Result<Value, RedisError> {
    do throws(RedisError) {
        return .success(try await body())
    } catch {
        return .failure(error)
    }
}

/// Waits until `redis`'s line and busy connections are as given (a caller is known to be queued,
/// or to hold the connection), instead of sleeping and hoping a loaded machine kept up.
func waitForLoad(_ redis: RedisClient, waiting: Int, busy: Int, timeout: Duration = .seconds(30)) async throws {
    let deadline = ContinuousClock.now + timeout
    while redis.load != (waiting, busy) {
        guard ContinuousClock.now < deadline else {
            Issue.record("the client has \(redis.load.waiting) waiting and \(redis.load.busyConnections) busy, not \(waiting) and \(busy)")
            return
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}

/// Waits until the server shows client `id` blocked in a command (`CLIENT LIST`'s `b` flag), so a
/// test kills it mid-command however slowly a loaded machine sent it.
func waitUntilBlocked(client id: Int64, seenBy redis: RedisClient, timeout: Duration = .seconds(20)) async throws {
    let deadline = ContinuousClock.now + timeout
    while true {
        let line = try await redis.command("CLIENT", "LIST", "ID", RedisArgument(Int(id))).string ?? ""
        let flags = line.split(separator: " ").first { $0.hasPrefix("flags=") }?.dropFirst("flags=".count) ?? ""
        if flags.contains("b") { return }
        guard ContinuousClock.now < deadline else {
            Issue.record("client \(id) is not blocked: \(line)")
            return
        }
        try await Task.sleep(for: .milliseconds(5))
    }
}
