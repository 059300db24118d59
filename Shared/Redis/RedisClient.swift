import Dispatch
package import Logging
import PazConcurrency
import Synchronization

/// A Redis client over hiredis with a small pool of connections.
///
/// Each connection has its own thread, where all of its hiredis calls run; callers never block
/// Swift's cooperative pool. A command goes to an idle connection, or waits in line. A busy connection
/// takes everything in line when it finishes a batch (every caller's commands, each caller's own
/// pipeline contiguous and in order), writes it in one go and reads all the replies: concurrent
/// callers share round trips. A blocking command (`BLPOP`, `XREADGROUP … BLOCK`…) is sent in a batch
/// of its own, so nobody waits behind it. At most ``RedisConfiguration/maxWaiters`` callers wait,
/// each at most ``RedisConfiguration/acquireTimeout``, and a cancelled caller leaves the line at once
/// (its command is not sent). Connections are made on first use and replaced when they break.
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
    /// With Sentinel: finds the primary and follows failovers.
    let locator: RedisPrimaryLocator?
    /// False when the locator is another client's (that client closes it).
    private let ownsLocator: Bool
    private let pool: Mutex<PoolState>
    private let requestIDs = Atomic<UInt64>(0)

    /// A connection takes at most this many commands from the line into one batch.
    static let maxBatchCommands = 512

    private struct PoolState {
        /// Connections whose thread is parked: the next request goes straight to one of them.
        var idle: [RedisConnection]
        /// Requests no connection has taken yet, oldest first.
        var waiting: [RedisRequest] = []
        /// True while a timer is set to fail the oldest waiting request at its deadline.
        var isTimerSet = false
        var breaker: CircuitBreaker
        var isClosed = false
    }

    /// A client for `configuration`. Connects lazily: the first command opens the first connection.
    package convenience init(configuration: RedisConfiguration, logger: Logger = Logger(label: "paz.redis")) {
        let locator = configuration.sentinel.map {
            RedisPrimaryLocator(
                configuration: $0, address: configuration.address, connectTimeout: configuration.connectTimeout, logger: logger)
        }
        self.init(configuration: configuration, locator: locator, ownsLocator: true, tracking: nil, logger: logger)
    }

    /// A client with `locator` (closed with the client when it `ownsLocator`, else another client's);
    /// with `tracking`, its connections track the keys they read and send the invalidations to that
    /// listener (``RedisTrackingCache``).
    init(
        configuration: RedisConfiguration, locator: RedisPrimaryLocator?, ownsLocator: Bool, tracking: RedisInvalidationListener?,
        logger: Logger
    ) {
        self.configuration = configuration
        self.logger = logger
        self.locator = locator
        self.ownsLocator = ownsLocator
        let connections = (0..<configuration.poolSize).map {
            RedisConnection(index: $0, configuration: configuration, locator: locator, tracking: tracking, logger: logger)
        }
        self.connections = connections
        let breaker = CircuitBreaker(policy: .init(
            failureThreshold: 1, coolDown: configuration.reconnectDelay, maximumCoolDown: configuration.maxReconnectDelay,
            probeTimeout: configuration.acquireTimeout + configuration.connectTimeout + configuration.commandTimeout * 2))
        self.pool = Mutex(PoolState(
            idle: connections.reversed(), breaker: breaker))
        // A finished failover: the new primary may be tried at once, not after the cool-down.
        locator?.onSwitch { [weak self] in self?.pool.withLock { $0.breaker.probeNow(at: .now) } }
    }

    /// With Sentinel: calls `handler` after each failover to a new primary (on the Sentinel watcher's
    /// thread: it must not block), e.g. to let a caller's own circuit breaker try Redis again at once.
    /// Without Sentinel it is never called.
    package func onPrimarySwitch(_ handler: @escaping @Sendable () -> Void) {
        locator?.onSwitch(handler)
    }

    /// Runs one command and returns its reply. An error reply is thrown as ``RedisError/server(_:)``.
    ///
    /// If the connection drops mid-command the command may or may not have run: it is re-sent once
    /// only when `idempotent` is true and ``RedisConfiguration/retryIdempotent`` is on; otherwise
    /// ``RedisError/connectionLost(address:code:message:)`` is thrown (retriable) and the caller decides.
    @discardableResult
    package func command(_ arguments: [RedisArgument], idempotent: Bool = false) async throws(RedisError) -> RedisValue {
        try await reply(arguments, idempotent: idempotent).value
    }

    /// Runs one command, not retried on a dropped connection: `try await redis.command("INCR", "n")`.
    @discardableResult
    package func command(_ arguments: RedisArgument...) async throws(RedisError) -> RedisValue {
        try await command(arguments)
    }

    /// Runs one command like ``command(_:idempotent:)`` and returns its reply as a view: nothing is
    /// decoded or copied until read (``RedisReply/fields`` reads an `HGETALL` straight into a dictionary).
    package func reply(_ arguments: [RedisArgument], idempotent: Bool = false) async throws(RedisError) -> RedisReply {
        let reply = try await execute([arguments], idempotent: idempotent).first
        if let message = reply.errorMessage { throw .server(message) }
        return reply
    }

    /// Sends all `commands` on one connection in one write, then reads their replies: one round trip.
    /// Replies come back in order, one per command; error replies are values (``RedisValue/error(_:)``)
    /// and do not stop the others. A broken connection throws (some commands may have run).
    ///
    /// Other callers' commands may share the write, before or after these, never between them.
    package func pipeline(_ commands: [[RedisArgument]]) async throws(RedisError) -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        return try await execute(commands, idempotent: false).all.map(\.value)
    }

    deinit {
        if ownsLocator { locator?.close() }
    }

    /// Closes every connection. Commands afterwards, and callers still waiting, get ``RedisError/closed``.
    package func close() async {
        let waiting = pool.withLock { state in
            state.isClosed = true
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for request in waiting { request.continuation.resume(returning: .failure(.closed)) }
        for connection in connections { await connection.close() }
        if ownsLocator { locator?.close() }
    }

    /// Requests waiting in line for a connection right now, and connections with a batch in flight:
    /// for metrics, and for tests that must know a caller is queued before going on.
    package var load: (waiting: Int, busyConnections: Int) {
        pool.withLock { ($0.waiting.count, connections.count - $0.idle.count) }
    }

    /// True while the client fails commands at once because Redis is unreachable (its circuit
    /// breaker is open, or one command is trying to reconnect). No I/O: for readiness probes.
    package var isUnavailable: Bool {
        pool.withLock { $0.breaker.isRefusing(at: .now) }
    }

    // MARK: - Requests

    /// Queues `commands` as one request and waits for their replies. The request goes straight to an
    /// idle connection, or joins the line of requests the busy connections take from after each batch.
    private func execute(_ commands: [[RedisArgument]], idempotent: Bool) async throws(RedisError) -> RedisReplyBuffer {
        let id = requestIDs.add(1, ordering: .relaxed).oldValue
        let isBlocking = RedisRequest.isBlocking(commands)
        let outcome = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: RedisRequest.Continuation) in
                let request = RedisRequest(
                    id: id, commands: commands, idempotent: idempotent, isBlocking: isBlocking,
                    deadline: .now + configuration.acquireTimeout, continuation: continuation)
                switch pool.withLock({ state in admit(request, &state) }) {
                case .refused(let error): continuation.resume(returning: .failure(error))
                case .handed(let connection, let request): start(connection, with: request)
                case .waiting(let timerDeadline): if let timerDeadline { setTimer(for: timerDeadline) }
                }
            }
        } onCancel: {
            failWaiting { $0.id == id ? .cancelled : nil }
        }
        return try outcome.get()
    }

    private enum Admission {
        case refused(RedisError)
        case handed(RedisConnection, RedisRequest)
        /// In line; a timer must be set for the deadline given.
        case waiting(setTimer: ContinuousClock.Instant?)
    }

    /// Decides under the pool lock: a refusal, an idle connection, or a place in line (bounded in
    /// number; a cancelled caller does not join it).
    private func admit(_ request: RedisRequest, _ state: inout PoolState) -> Admission {
        if state.isClosed { return .refused(.closed) }
        let now = ContinuousClock.now
        var request = request
        switch state.breaker.decide(at: now) {
        case .allow: break
        case .probe: request.isProbe = true
        case .reject(let retryAfter): return .refused(unavailable(state.breaker, retryIn: retryAfter))
        }
        // An idle connection takes the request at once; only when every connection is busy does it
        // wait in line, for the next connection that finishes a batch (never behind a slow batch while
        // a connection is free).
        if let connection = state.idle.popLast() {
            return .handed(connection, request)
        }
        let refusal: RedisError? =
            if state.waiting.count >= configuration.maxWaiters { .poolExhausted(waiting: state.waiting.count) }
            else if Task.isCancelled { .cancelled }
            else { nil }
        if let refusal {
            if request.isProbe { state.breaker.releaseProbe(at: now) }
            return .refused(refusal)
        }
        state.waiting.append(request)
        guard !state.isTimerSet else { return .waiting(setTimer: nil) }
        state.isTimerSet = true
        return .waiting(setTimer: request.deadline)
    }

    /// Takes every waiting request `verdict` fails out of line and fails it.
    private func failWaiting(_ verdict: (RedisRequest) -> RedisError?) {
        let failed = pool.withLock { state -> [(RedisRequest, RedisError)] in
            var failed: [(RedisRequest, RedisError)] = []
            state.waiting.removeAll { request in
                guard let error = verdict(request) else { return false }
                failed.append((request, error))
                if request.isProbe { state.breaker.releaseProbe(at: .now) }
                return true
            }
            return failed
        }
        for (request, error) in failed { request.continuation.resume(returning: .failure(error)) }
    }

    /// One timer serves the whole line: deadlines come in arrival order, so it is set for the oldest
    /// waiting request's, and set again for the next oldest when it fires.
    private func setTimer(for deadline: ContinuousClock.Instant) {
        let delay = max(deadline - .now, .zero)
        let (seconds, attoseconds) = delay.components
        let nanoseconds = Int(seconds) * 1_000_000_000 + Int(attoseconds / 1_000_000_000)
        DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(nanoseconds)) { [weak self] in
            self?.expireOverdue()
        }
    }

    private func expireOverdue() {
        let now = ContinuousClock.now
        let timeout = RedisError.acquireTimeout(address: configuration.address, after: configuration.acquireTimeout)
        failWaiting { $0.deadline <= now ? timeout : nil }
        let next = pool.withLock { state -> ContinuousClock.Instant? in
            state.isTimerSet = !state.waiting.isEmpty
            return state.waiting.first?.deadline
        }
        if let next { setTimer(for: next) }
    }

    // MARK: - Connections

    /// Wakes `connection`'s thread to send `request`, then whatever waits in line, batch after batch,
    /// until the line stays empty.
    private func start(_ connection: RedisConnection, with request: RedisRequest) {
        let accepted = connection.thread.execute { [self] in
            var batch = [request]
            while true {
                let outcomes = connection.send(batch)
                guard let next = settle(batch, outcomes, on: connection) else { return }
                batch = next
            }
        }
        if !accepted { request.continuation.resume(returning: .failure(.closed)) }
    }

    /// Hands each request of a finished batch its outcome, records what they tell about Redis's
    /// reachability, and takes the next batch from the line (nil when it is empty: the connection is
    /// idle again). When the breaker opens, everyone in line fails at once.
    private func settle(
        _ batch: [RedisRequest], _ outcomes: [Result<RedisReplyBuffer, RedisError>], on connection: RedisConnection
    ) -> [RedisRequest]? {
        let (next, refused, refusal) = pool.withLock { state -> ([RedisRequest]?, [RedisRequest], RedisError?) in
            let now = ContinuousClock.now
            for (request, outcome) in zip(batch, outcomes) {
                switch Self.reachability(outcome, isProbe: request.isProbe) {
                case .reachable: state.breaker.recordSuccess()
                case .unreachable(let reason): state.breaker.recordFailure(at: now, reason: reason)
                case .unknown: if request.isProbe { state.breaker.releaseProbe(at: now) }
                }
            }
            var refused: [RedisRequest] = []
            var refusal: RedisError?
            if state.breaker.isRefusing(at: now), !state.waiting.isEmpty {
                refused = state.waiting
                state.waiting.removeAll()
                if refused.contains(where: \.isProbe) { state.breaker.releaseProbe(at: now) }
                refusal = unavailable(state.breaker, retryIn: state.breaker.retryAfter(at: now))
            }
            let next = takeBatch(&state)
            if next == nil { state.idle.append(connection) }
            return (next, refused, refusal)
        }
        for (request, outcome) in zip(batch, outcomes) { request.continuation.resume(returning: outcome) }
        if let refusal {
            for request in refused { request.continuation.resume(returning: .failure(refusal)) }
        }
        return next
    }

    /// The next batch from the line, oldest first: up to ``maxBatchCommands`` commands, and a request
    /// with a blocking command only alone (nothing waits behind it). Nil when the line is empty.
    private func takeBatch(_ state: inout PoolState) -> [RedisRequest]? {
        guard !state.isClosed, let first = state.waiting.first else { return nil }
        var count = 1
        if !first.isBlocking {
            var commands = first.commands.count
            for request in state.waiting.dropFirst() {
                commands += request.commands.count
                guard !request.isBlocking, commands <= Self.maxBatchCommands else { break }
                count += 1
            }
        }
        let batch = Array(state.waiting.prefix(count))
        state.waiting.removeFirst(count)
        return batch
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

    private static func reachability(_ outcome: Result<RedisReplyBuffer, RedisError>, isProbe: Bool) -> Reachability {
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

/// One caller's commands, sent contiguously on one connection, and where their replies go.
struct RedisRequest: Sendable {
    typealias Continuation = CheckedContinuation<Result<RedisReplyBuffer, RedisError>, Never>

    let id: UInt64
    let commands: [[RedisArgument]]
    /// Re-sent once after a dropped connection (with ``RedisConfiguration/retryIdempotent``).
    let idempotent: Bool
    /// Holds a command that may block on the server; sent in a batch of its own.
    let isBlocking: Bool
    /// When it stops waiting in line (``RedisError/acquireTimeout(address:after:)``).
    let deadline: ContinuousClock.Instant
    let continuation: Continuation
    /// The breaker's probe: its outcome says whether Redis is back.
    var isProbe = false

    /// Commands that wait on the server for data or replicas.
    private static let blockingCommands: Set<String> = [
        "BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT", "WAITAOF",
    ]

    /// True when one of `commands` may block: a blocking list or sorted-set pop, `WAIT`, or a stream
    /// read with `BLOCK`.
    static func isBlocking(_ commands: [[RedisArgument]]) -> Bool {
        commands.contains { command in
            guard let first = command.first?.bytes.first, [UInt8(ascii: "B"), UInt8(ascii: "W"), UInt8(ascii: "X")].contains(first & 0xDF)
            else { return false }
            let name = String(decoding: command[0].bytes, as: UTF8.self).uppercased()
            if name == "XREAD" || name == "XREADGROUP" {
                return command.dropFirst().contains { String(decoding: $0.bytes, as: UTF8.self).uppercased() == "BLOCK" }
            }
            return blockingCommands.contains(name)
        }
    }
}
