package import Logging
import Synchronization

/// A Redis client over hiredis with a small pool of connections.
///
/// Each connection has its own thread, where all of its hiredis calls run; callers never block
/// Swift's cooperative pool. A command takes a free connection, or waits for one (at most
/// ``RedisConfiguration/maxWaiters`` callers wait; waiting is not cancellable). Connections are made
/// on first use and replaced, with backoff, when they break.
///
/// ```swift
/// let redis = RedisClient(configuration: .init(port: 6379), logger: logger)
/// try await redis.set("k", "v")
/// let value = try await redis.get("k")
/// await redis.close()
/// ```
package final class RedisClient: Sendable {
    /// The settings every connection uses.
    package let configuration: RedisConfiguration
    let logger: Logger
    private let connections: [RedisConnection]
    private let pool: Mutex<PoolState>

    private struct PoolState {
        var idle: [RedisConnection]
        var waiters: [CheckedContinuation<Result<RedisConnection, RedisError>, Never>] = []
        var isClosed = false
    }

    /// A client for `configuration`. Connects lazily: the first command opens the first connection.
    package init(configuration: RedisConfiguration, logger: Logger = Logger(label: "paz.redis")) {
        self.configuration = configuration
        self.logger = logger
        let connections = (0..<configuration.poolSize).map {
            RedisConnection(index: $0, configuration: configuration, logger: logger)
        }
        self.connections = connections
        self.pool = Mutex(PoolState(idle: connections.reversed()))
    }

    /// Runs one command and returns its reply. An error reply is thrown as ``RedisError/server(_:)``.
    ///
    /// If the connection drops mid-command the command may or may not have run: it is re-sent once
    /// only when `idempotent` is true and ``RedisConfiguration/retryIdempotent`` is on; otherwise
    /// ``RedisError/connectionLost(address:code:message:)`` is thrown (retriable) and the caller decides.
    @discardableResult
    package func command(_ arguments: [RedisArgument], idempotent: Bool = false) async throws(RedisError) -> RedisValue {
        let reply = try await execute([arguments], idempotent: idempotent)[0]
        if let message = reply.errorMessage { throw .server(message) }
        return reply
    }

    /// Runs one command, not retried on a dropped connection: `try await redis.command("INCR", "n")`.
    @discardableResult
    package func command(_ arguments: RedisArgument...) async throws(RedisError) -> RedisValue {
        try await command(arguments)
    }

    /// Sends all `commands` on one connection in one write, then reads their replies: one round trip.
    /// Replies come back in order, one per command; error replies are values (``RedisValue/error(_:)``)
    /// and do not stop the others. A broken connection throws (some commands may have run).
    package func pipeline(_ commands: [[RedisArgument]]) async throws(RedisError) -> [RedisValue] {
        try await execute(commands, idempotent: false)
    }

    /// Closes every connection. Commands afterwards, and callers still waiting, get ``RedisError/closed``.
    package func close() async {
        let waiters = pool.withLock { state in
            state.isClosed = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: .failure(.closed)) }
        for connection in connections { await connection.close() }
    }

    // MARK: - Pool

    private func execute(_ commands: [[RedisArgument]], idempotent: Bool) async throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        let connection = try await acquire()
        defer { release(connection) }
        do {
            return try await connection.execute(commands)
        } catch {
            guard case .connectionLost = error, idempotent, configuration.retryIdempotent else { throw error }
            logger.info("Re-sending an idempotent Redis command after a dropped connection", metadata: [
                "redis.address": "\(configuration.address)",
                "redis.command": "\(String(decoding: commands[0].first?.bytes ?? [], as: UTF8.self))",
            ])
            return try await connection.execute(commands)
        }
    }

    private func acquire() async throws(RedisError) -> RedisConnection {
        let limit = configuration.maxWaiters
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<RedisConnection, RedisError>, Never>) in
            let immediate: Result<RedisConnection, RedisError>? = pool.withLock { state in
                if state.isClosed { return .failure(.closed) }
                if let connection = state.idle.popLast() { return .success(connection) }
                if state.waiters.count >= limit { return .failure(.poolExhausted(waiting: state.waiters.count)) }
                state.waiters.append(continuation)
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
        return try result.get()
    }

    private func release(_ connection: RedisConnection) {
        let waiter: CheckedContinuation<Result<RedisConnection, RedisError>, Never>? = pool.withLock { state in
            if state.waiters.isEmpty {
                state.idle.append(connection)
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.resume(returning: .success(connection))
    }
}
