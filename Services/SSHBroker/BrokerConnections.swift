package import Logging
package import PazAMQP
import PazControlPlane
package import PazRedis
package import PazServiceKit
import PazSchemas
package import PazStore
import ServiceLifecycle
import Synchronization

/// The broker's AMQP connection and Redis client, and the service that owns their lifetime.
///
/// First in the service group: it keeps `redisReachable` fresh for `/readyz` (a PING every
/// ``BrokerConfiguration/redisProbeInterval``), and after the consumer behind it has drained on
/// graceful shutdown it closes both connections.
package final class BrokerConnections: Service, Sendable {
    package let amqp: AMQPConnection
    package let redis: RedisClient
    package let store: Store
    private let queue: String
    private let probeInterval: Duration
    private let logger: Logger
    private let redisReachable = Atomic<Bool>(false)

    /// Opens (lazily, in the background) the connections `configuration` names.
    package init(configuration: BrokerConfiguration, logger: Logger) {
        amqp = AMQPConnection(configuration: configuration.amqp, logger: logger)
        redis = RedisClient(configuration: configuration.redis, logger: logger)
        store = Store(redis: redis)
        queue = configuration.queue
        probeInterval = configuration.redisProbeInterval
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
        await redis.close()
        logger.info("Connections closed")
    }

    /// Waits for the AMQP connection and declares the shared topology and the request queue,
    /// retrying (with backoff) until it succeeds; false when graceful shutdown came first.
    func prepareTopology() async -> Bool {
        var delay = Duration.milliseconds(100)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            guard amqp.state == .connected else {
                guard await sleepUnlessShuttingDown(.milliseconds(100)) else { return false }
                continue
            }
            do throws(AMQPError) {
                try await Self.declareTopology(queue: queue, on: amqp)
                return true
            } catch {
                logger.warning(
                    "Could not declare the AMQP topology; retrying",
                    metadata: ["error": "\(error)", "retry.in": "\(delay)"])
                guard await sleepUnlessShuttingDown(delay) else { return false }
                delay = min(delay * 2, .seconds(5))
            }
        }
        return false
    }

    /// The shared exchanges and dead-letter queue, and the request queue: a quorum queue on the
    /// default exchange (routing key = its name) with the common delivery limit and dead-lettering,
    /// the same shape as every other service queue. Replicas compete on it; a request whose replica
    /// died unacked is redelivered to another, and one that keeps killing replicas is dead-lettered
    /// after ``PazSchemas/Routing/deliveryLimit`` deliveries.
    package static func declareTopology(queue: String, on connection: AMQPConnection) async throws(AMQPError) {
        try await ControlPlaneTopology.declareShared(on: connection)
        try await connection.declare(
            .quorum(name: queue, deliveryLimit: Routing.deliveryLimit, deadLetterExchange: Routing.deadLetterExchange))
    }
}

/// Sleeps for `duration`; returns false when graceful shutdown or cancellation cut the sleep short.
func sleepUnlessShuttingDown(_ duration: Duration) async -> Bool {
    do {
        try await cancelWhenGracefulShutdown { try await Task.sleep(for: duration) }
        return !Task.isShuttingDownGracefully
    } catch {
        return false
    }
}
