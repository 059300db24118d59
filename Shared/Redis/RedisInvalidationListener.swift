import CHiredis
import Foundation
import Logging
import PazConcurrency
import Synchronization

/// The subscriber end of Redis's client-side caching (`CLIENT TRACKING … REDIRECT`, RESP2): one
/// connection subscribed to `__redis__:invalidate`, on a thread of its own, that hands every
/// invalidation to ``RedisTrackingCache``.
///
/// A connection that tracks keys names this one's client id (``redirect``) as where Redis sends the
/// invalidations. Every (re)subscription starts a new ``generation``; a tracking connection made
/// under an older one is dropped before its next command, and the cache forgets everything when the
/// subscription breaks (Redis may have sent invalidations nobody received).
final class RedisInvalidationListener: Sendable {
    /// What Redis said changed.
    enum Invalidation: Sendable {
        /// These keys were written, deleted or expired.
        case keys([String])
        /// Anything may have changed: `FLUSHALL`/`FLUSHDB`, or the subscription broke or began.
        case everything
    }

    private struct Subscription {
        let clientID: Int
        let generation: UInt64
    }

    private let configuration: RedisConfiguration
    private let locator: RedisPrimaryLocator?
    private let logger: Logger
    private let onInvalidate: @Sendable (Invalidation) -> Void
    private let thread: DedicatedThread
    private let isClosed = Atomic<Bool>(false)
    private let subscription = Mutex<Subscription?>(nil)
    /// The subscribed socket (-1 when there is none): read by ``isQuiet(generation:)``.
    private let socket = Atomic<Int32>(-1)
    /// True from the moment the thread sees input until it has applied all of it.
    private let isApplying = Atomic<Bool>(false)
    private let generations = Atomic<UInt64>(0)

    static let channel = "__redis__:invalidate"
    /// `POLLRDHUP` (Linux; Glibc's module leaves it out): the server closed the connection.
    private static let peerClosed: Int16 = 0x2000

    init(
        configuration: RedisConfiguration, locator: RedisPrimaryLocator?, logger: Logger,
        onInvalidate: @escaping @Sendable (Invalidation) -> Void
    ) {
        self.configuration = configuration
        self.locator = locator
        self.logger = logger
        self.onInvalidate = onInvalidate
        thread = DedicatedThread(name: "redis-invalidations")
        thread.execute { [self] in listen() }
    }

    /// Stops listening (within the poll interval).
    func close() {
        isClosed.store(true, ordering: .sequentiallyConsistent)
        thread.shutdown()
    }

    /// The current subscription's generation, nil while there is none.
    var generation: UInt64? { subscription.withLock { $0?.generation } }

    /// The client id a tracking connection redirects its invalidations to, and the generation it
    /// belongs to. Waits up to `timeout` for a subscription (blocking: call it on a connection's thread).
    func redirect(waiting timeout: Duration) -> (clientID: Int, generation: UInt64)? {
        let deadline = ContinuousClock.now + timeout
        repeat {
            if let current = subscription.withLock({ $0 }) { return (current.clientID, current.generation) }
            usleep(2_000)
        } while ContinuousClock.now < deadline && !isClosed.load(ordering: .relaxed)
        return nil
    }

    /// True when `generation` is still subscribed and no invalidation is on its way through this
    /// process: nothing unread on the socket (and no end of file), nothing read but not yet applied.
    /// A value cached under `generation` is then as new as Redis: every write whose event-loop turn
    /// has ended was announced, and its announcement applied. No I/O beyond one `poll` that does not wait.
    func isQuiet(generation: UInt64) -> Bool {
        let fd = socket.load(ordering: .sequentiallyConsistent)
        guard fd >= 0, generations.load(ordering: .sequentiallyConsistent) == generation else { return false }
        // Unread input first, then "applying": the thread sets the flag before it reads.
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN) | Self.peerClosed, revents: 0)
        guard poll(&descriptor, 1, 0) == 0 else { return false }
        return !isApplying.load(ordering: .sequentiallyConsistent)
            && generations.load(ordering: .sequentiallyConsistent) == generation
    }

    // MARK: - On the listener's thread

    private func listen() {
        var delay = configuration.reconnectDelay
        var failures = 0
        while !isClosed.load(ordering: .relaxed) {
            do {
                try subscribeAndApply { failures = 0 }
                delay = configuration.reconnectDelay
            } catch {
                if isClosed.load(ordering: .relaxed) { return }
                // Once per outage at warning; the attempts that follow at debug.
                logger.log(
                    level: failures == 0 ? .warning : .debug,
                    "Redis invalidation subscription interrupted; cached reads go to Redis until it is back",
                    metadata: ["redis.address": "\(configuration.address)", "redis.error": "\(error)"])
                failures += 1
                var waited = Duration.zero
                while waited < delay && !isClosed.load(ordering: .relaxed) {
                    usleep(10_000)
                    waited += .milliseconds(10)
                }
                delay = min(delay * 2, configuration.maxReconnectDelay)
            }
        }
    }

    /// Subscribes (then calls `subscribed`), then applies invalidations until the connection breaks,
    /// the primary changes or the listener closes. Whatever ends it, the cache forgets everything.
    private func subscribeAndApply(subscribed: () -> Void) throws(RedisError) {
        var endpoint = RedisEndpoint(host: configuration.host, port: configuration.port)
        var primaryGeneration: UInt64 = 0
        if let locator { (endpoint, primaryGeneration) = try locator.primary() }
        let context = try RedisPlainContext(
            endpoint, username: configuration.username, password: configuration.password,
            timeout: configuration.connectTimeout, role: "redis")
        if locator != nil, try context.command(["ROLE"]).first != "master" {
            locator?.invalidate(generation: primaryGeneration, reason: "\(endpoint) is not the primary")
            throw .connectionFailed(address: configuration.address, code: REDIS_ERR_OTHER, message: "\(endpoint) is not the primary")
        }
        guard let clientID = try context.command(["CLIENT", "ID"]).first.flatMap({ Int($0) }) else {
            throw .protocolError("CLIENT ID gave no number")
        }
        try context.subscribe(Self.channel)
        let generation = generations.add(1, ordering: .sequentiallyConsistent).newValue
        onInvalidate(.everything)
        socket.store(context.fd, ordering: .sequentiallyConsistent)
        subscription.withLock { $0 = Subscription(clientID: clientID, generation: generation) }
        subscribed()
        logger.debug("Listening for Redis key invalidations", metadata: ["redis.address": "\(configuration.address)"])
        defer {
            subscription.withLock { $0 = nil }
            socket.store(-1, ordering: .sequentiallyConsistent)
            generations.add(1, ordering: .sequentiallyConsistent)
            onInvalidate(.everything)
        }
        while !isClosed.load(ordering: .relaxed) {
            if let locator, locator.generation != primaryGeneration { return }
            var descriptor = pollfd(fd: context.fd, events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 250) > 0 else { continue }
            isApplying.store(true, ordering: .sequentiallyConsistent)
            defer { isApplying.store(false, ordering: .sequentiallyConsistent) }
            repeat {
                guard let message = try context.nextMessage(waiting: .zero), message.channel == Self.channel else { continue }
                switch message.payload {
                case .list(let keys): onInvalidate(.keys(keys))
                case .text(let key): onInvalidate(.keys([key]))
                case .null: onInvalidate(.everything)
                }
            } while context.hasBufferedInput
        }
    }
}
