package import Logging
package import PazAMQP
package import PazRedis
package import PazSecrets
package import PazServiceKit
package import PazStore
import ServiceLifecycle
import Synchronization

/// A service's AMQP connection and Redis client, and the `Service` that owns their lifetime.
///
/// First in its service group: it keeps `redisReachable` fresh for `/readyz` (a PING every
/// `probeInterval`), and after the consumers behind it have drained on graceful shutdown it closes
/// both connections. Consumers call ``prepareTopology()`` before they consume.
package final class ServiceConnections: Service, Sendable {
    package let amqp: AMQPConnection
    package let redis: RedisClient
    package let store: Store
    private let declare: @Sendable (AMQPConnection) async throws(AMQPError) -> Void
    private let probeInterval: Duration
    private let logger: Logger
    private let redisReachable = Atomic<Bool>(false)

    /// Opens (lazily, in the background) the connections; `declare` declares the service's AMQP
    /// topology (idempotent, run again by ``prepareTopology()`` until it succeeds).
    /// `secretBox` seals and opens the store's secrets (services that read or write them);
    /// `trackedReads` gives the store a ``RedisTrackingCache`` (the gateway: tokens and tenant versions).
    package init(
        amqp: AMQPConfiguration, redis: RedisConfiguration, secretBox: SecretBox? = nil, trackedReads: Bool = false,
        probeInterval: Duration, logger: Logger, declare: @escaping @Sendable (AMQPConnection) async throws(AMQPError) -> Void
    ) {
        self.amqp = AMQPConnection(configuration: amqp, logger: logger)
        self.redis = RedisClient(configuration: redis, logger: logger)
        store = Store(redis: self.redis, secretBox: secretBox, tracking: trackedReads ? RedisTrackingCache(client: self.redis) : nil)
        self.declare = declare
        self.probeInterval = probeInterval
        self.logger = logger
    }

    /// Registers the `amqp` and `redis` readiness checks (no I/O: both read tracked state).
    package func registerReadiness(_ readiness: ReadinessChecks) {
        readiness.register("amqp") { [amqp] in amqp.state == .connected }
        readiness.register("redis") { [self] in isRedisReachable }
    }

    /// Whether the last Redis PING succeeded.
    package var isRedisReachable: Bool { redisReachable.load(ordering: .relaxed) }

    package func run() async throws {
        var wasReachable: Bool?
        repeat {
            let reachable: Bool
            do {
                reachable = try await redis.command("PING").string == "PONG"
            } catch {
                reachable = false
                if wasReachable != false {
                    logger.warning("Redis is unreachable", metadata: ["error": "\(error)"])
                }
            }
            if reachable && wasReachable == false { logger.info("Redis is reachable again") }
            redisReachable.store(reachable, ordering: .relaxed)
            wasReachable = reachable
        } while await sleepUnlessShuttingDown(probeInterval)
        redisReachable.store(false, ordering: .relaxed)
        await amqp.close()
        await store.tracking?.close()
        await redis.close()
        logger.info("Connections closed")
    }

    /// Waits for the AMQP connection and declares the topology, retrying (with backoff) until it
    /// succeeds; false when graceful shutdown came first.
    package func prepareTopology() async -> Bool {
        await prepareAMQPTopology(on: amqp, logger: logger, declare: declare)
    }
}

/// Waits for `amqp` to connect and runs `declare`, retrying (with backoff) until it succeeds;
/// false when graceful shutdown or cancellation came first. The connection logs its own connect
/// failures; this only watches its state, so shutdown is never held up.
package func prepareAMQPTopology(
    on amqp: AMQPConnection, logger: Logger, declare: @Sendable (AMQPConnection) async throws(AMQPError) -> Void
) async -> Bool {
    var delay = Duration.milliseconds(100)
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
        guard amqp.state == .connected else {
            guard await sleepUnlessShuttingDown(.milliseconds(100)) else { return false }
            continue
        }
        do throws(AMQPError) {
            try await declare(amqp)
            return true
        } catch {
            logger.warning(
                "Could not declare the AMQP topology; retrying", metadata: ["error": "\(error)", "retry.in": "\(delay)"])
            guard await sleepUnlessShuttingDown(delay) else { return false }
            delay = min(delay * 2, .seconds(5))
        }
    }
    return false
}

/// Sleeps for `duration`; returns false when graceful shutdown or cancellation cut the sleep short.
package func sleepUnlessShuttingDown(_ duration: Duration) async -> Bool {
    do {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
        return !Task.isShuttingDownGracefully
    } catch {
        return false
    }
}
