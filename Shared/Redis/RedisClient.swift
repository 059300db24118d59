package import Logging
import PazConcurrency
import Synchronization

/// A Redis client over hiredis with a small pool of connections.
///
/// Each connection has its own thread, where all of its hiredis calls run; callers never block
/// Swift's cooperative pool. A command takes a free connection, or waits for one: at most
/// ``RedisConfiguration/maxWaiters`` callers wait, each at most ``RedisConfiguration/acquireTimeout``,
/// and a cancelled caller stops waiting at once. Connections are made on first use and replaced when
/// they break.
///
/// **Failing fast.** A failed connection attempt opens the client's circuit breaker: for
/// ``RedisConfiguration/reconnectDelay`` (doubling up to ``RedisConfiguration/maxReconnectDelay``)
/// every command fails at once with ``RedisError/unavailable(address:reason:retryIn:)``, waiting
/// callers included; then one command is let through to try again (the others still fail fast),
/// and its success closes the breaker. Nothing waits for Redis to come back.
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
    private let waiterIDs = Atomic<UInt64>(0)

    private typealias Grant = CheckedContinuation<Result<Lease, RedisError>, Never>

    /// A connection taken from the pool, and whether its command is the breaker's probe.
    private struct Lease: Sendable {
        let connection: RedisConnection
        let isProbe: Bool
    }

    private struct Waiter {
        let id: UInt64
        let isProbe: Bool
        let continuation: Grant
    }

    private struct PoolState {
        var idle: [RedisConnection]
        var waiters: [Waiter] = []
        var breaker: CircuitBreaker
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
        let breaker = CircuitBreaker(policy: .init(
            failureThreshold: 1, coolDown: configuration.reconnectDelay, maximumCoolDown: configuration.maxReconnectDelay,
            probeTimeout: configuration.acquireTimeout + configuration.connectTimeout + configuration.commandTimeout * 2))
        self.pool = Mutex(PoolState(idle: connections.reversed(), breaker: breaker))
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
        for waiter in waiters { waiter.continuation.resume(returning: .failure(.closed)) }
        for connection in connections { await connection.close() }
    }

    /// True while the client fails commands at once because Redis is unreachable (its circuit
    /// breaker is open, or one command is trying to reconnect). No I/O: for readiness probes.
    package var isUnavailable: Bool {
        pool.withLock { $0.breaker.isRefusing(at: .now) }
    }

    // MARK: - Pool

    private func execute(_ commands: [[RedisArgument]], idempotent: Bool) async throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        let lease = try await acquire()
        let outcome = await run(commands, on: lease.connection, idempotent: idempotent)
        release(lease, after: outcome)
        return try outcome.get()
    }

    private func run(
        _ commands: [[RedisArgument]], on connection: RedisConnection, idempotent: Bool
    ) async -> Result<[RedisValue], RedisError> {
        do throws(RedisError) {
            return .success(try await connection.execute(commands))
        } catch {
            guard case .connectionLost = error, idempotent, configuration.retryIdempotent else { return .failure(error) }
            logger.info("Re-sending an idempotent Redis command after a dropped connection", metadata: [
                "redis.address": "\(configuration.address)",
                "redis.command": "\(String(decoding: commands[0].first?.bytes ?? [], as: UTF8.self))",
            ])
            do throws(RedisError) {
                return .success(try await connection.execute(commands))
            } catch {
                return .failure(error)
            }
        }
    }

    /// A free connection: at once when one is idle, else after waiting in line (bounded in number,
    /// time and by cancellation). Refused at once while the breaker is open.
    private func acquire() async throws(RedisError) -> Lease {
        // Fast path: no task group, no continuation.
        if let immediate = pool.withLock({ state in admit(&state, waiter: nil) }) { return try immediate.get() }
        let id = waiterIDs.add(1, ordering: .relaxed).oldValue
        let deadline = ContinuousClock.now + configuration.acquireTimeout
        let result = await withTaskGroup(of: Void.self, returning: Result<Lease, RedisError>.self) { timer in
            timer.addTask { [self] in
                try? await Task.sleep(until: deadline, clock: .continuous)
                if !Task.isCancelled {
                    expireWaiter(id, with: .acquireTimeout(address: configuration.address, after: configuration.acquireTimeout))
                }
            }
            let result = await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: Grant) in
                    let immediate = pool.withLock { state in
                        admit(&state, waiter: (id, deadline, continuation))
                    }
                    if let immediate { continuation.resume(returning: immediate) }
                }
            } onCancel: {
                expireWaiter(id, with: .cancelled)
            }
            timer.cancelAll()
            return result
        }
        return try result.get()
    }

    /// Decides under the pool lock: an idle connection, a refusal, or (with `waiter`) a place in line
    /// (nil is returned then; without `waiter`, nil means "would wait").
    private func admit(
        _ state: inout PoolState, waiter: (id: UInt64, deadline: ContinuousClock.Instant, continuation: Grant)?
    ) -> Result<Lease, RedisError>? {
        if state.isClosed { return .failure(.closed) }
        let now = ContinuousClock.now
        if waiter == nil, state.idle.isEmpty, !state.breaker.isRefusing(at: now) { return nil }
        let isProbe: Bool
        switch state.breaker.decide(at: now) {
        case .allow: isProbe = false
        case .probe: isProbe = true
        case .reject(let retryAfter): return .failure(unavailable(state.breaker, retryIn: retryAfter))
        }
        if let connection = state.idle.popLast() { return .success(Lease(connection: connection, isProbe: isProbe)) }
        let refusal: RedisError?
        if state.waiters.count >= configuration.maxWaiters {
            refusal = .poolExhausted(waiting: state.waiters.count)
        } else if waiter != nil, Task.isCancelled {
            refusal = .cancelled
        } else if let waiter, now >= waiter.deadline {
            refusal = .acquireTimeout(address: configuration.address, after: configuration.acquireTimeout)
        } else {
            refusal = nil
        }
        if let refusal {
            if isProbe { state.breaker.releaseProbe(at: now) }
            return .failure(refusal)
        }
        guard let waiter else {
            if isProbe { state.breaker.releaseProbe(at: now) }
            return nil
        }
        state.waiters.append(Waiter(id: waiter.id, isProbe: isProbe, continuation: waiter.continuation))
        return nil
    }

    /// Takes waiter `id` out of line (if it is still there) and fails it with `error`.
    private func expireWaiter(_ id: UInt64, with error: RedisError) {
        let waiter: Waiter? = pool.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = state.waiters.remove(at: index)
            if waiter.isProbe { state.breaker.releaseProbe(at: .now) }
            return waiter
        }
        waiter?.continuation.resume(returning: .failure(error))
    }

    /// Records what the command said about Redis, then hands the connection to the first caller in
    /// line (or back to the pool). When the breaker is open, everyone in line fails at once.
    private func release(_ lease: Lease, after outcome: Result<[RedisValue], RedisError>) {
        let (granted, refused, error) = pool.withLock { state -> (Waiter?, [Waiter], RedisError?) in
            let now = ContinuousClock.now
            switch Self.reachability(outcome, isProbe: lease.isProbe) {
            case .reachable: state.breaker.recordSuccess()
            case .unreachable(let reason): state.breaker.recordFailure(at: now, reason: reason)
            case .unknown: if lease.isProbe { state.breaker.releaseProbe(at: now) }
            }
            if state.breaker.isRefusing(at: now), !state.waiters.isEmpty {
                let refused = state.waiters
                state.waiters.removeAll()
                state.idle.append(lease.connection)
                let error = unavailable(state.breaker, retryIn: state.breaker.retryAfter(at: now))
                if refused.contains(where: \.isProbe) { state.breaker.releaseProbe(at: now) }
                return (nil, refused, error)
            }
            guard !state.waiters.isEmpty else {
                state.idle.append(lease.connection)
                return (nil, [], nil)
            }
            return (state.waiters.removeFirst(), [], nil)
        }
        if let granted {
            granted.continuation.resume(returning: .success(Lease(connection: lease.connection, isProbe: granted.isProbe)))
        }
        if let error {
            for waiter in refused { waiter.continuation.resume(returning: .failure(error)) }
        }
    }

    private func unavailable(_ breaker: CircuitBreaker, retryIn: Duration) -> RedisError {
        .unavailable(address: configuration.address, reason: breaker.lastFailure ?? "no connection", retryIn: retryIn)
    }

    /// What a finished command tells about Redis's reachability.
    private enum Reachability {
        case reachable
        case unreachable(String)
        case unknown
    }

    private static func reachability(_ outcome: Result<[RedisValue], RedisError>, isProbe: Bool) -> Reachability {
        switch outcome {
        case .success: return .reachable
        case .failure(let error):
            switch error {
            case .connectionFailed(_, let code, let message): return .unreachable("hiredis error \(code): \(message)")
            case .server, .authenticationFailed, .protocolError: return .reachable
            // A broken or silent connection says little about a server that was up, but a probe that
            // gets no answer has not shown it is back.
            case .connectionLost, .timeout: return isProbe ? .unreachable("\(error)") : .unknown
            case .poolExhausted, .acquireTimeout, .unavailable, .cancelled, .closed: return .unknown
            }
        }
    }
}
