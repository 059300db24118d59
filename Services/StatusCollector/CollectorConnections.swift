package import Logging
package import PazAMQP
package import PazRedis
package import PazServiceKit
package import PazStore
import ServiceLifecycle
import Synchronization

/// The collector's AMQP connection and Redis client, and the service that owns their lifetime.
///
/// First in the service group: it keeps `redisReachable` fresh for `/readyz` (a PING every
/// ``CollectorConfiguration/redisProbeInterval``), and after the consumers behind it have drained
/// on graceful shutdown it closes both connections.
package final class CollectorConnections: Service, Sendable {
    package let amqp: AMQPConnection
    package let redis: RedisClient
    package let store: Store
    private let topology: CollectorTopology
    private let probeInterval: Duration
    private let logger: Logger
    private let redisReachable = Atomic<Bool>(false)

    /// Opens (lazily, in the background) the connections `configuration` names.
    package init(configuration: CollectorConfiguration, logger: Logger) {
        amqp = AMQPConnection(configuration: configuration.amqp, logger: logger)
        redis = RedisClient(configuration: configuration.redis, logger: logger)
        store = Store(redis: redis)
        topology = CollectorTopology(eventsQueue: configuration.eventsQueue)
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

    /// Waits for the AMQP connection and declares the collector's topology, retrying (with backoff)
    /// until it succeeds; false when graceful shutdown came first. The connection logs its own
    /// connect failures; this only watches its state, so shutdown is never held up.
    func prepareTopology() async -> Bool {
        var delay = Duration.milliseconds(100)
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            guard amqp.state == .connected else {
                guard await sleepUnlessShuttingDown(.milliseconds(100)) else { return false }
                continue
            }
            do throws(AMQPError) {
                try await topology.declare(on: amqp)
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
