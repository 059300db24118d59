package import Configuration
package import PazAMQP
import PazControlPlane
import PazSchemas
package import PazRedis
package import PazServiceKit

/// The status collector's settings (docs/control-plane.md, "Configuration"):
///
/// | key | environment variable | default |
/// |---|---|---|
/// | `amqp.url` | `AMQP_URL` | `amqp://guest:guest@127.0.0.1:5672/` |
/// | `redis.url` | `REDIS_URL` | `redis://127.0.0.1:6379/0` |
/// | `status.intervalSeconds` | `STATUS_INTERVAL_SECONDS` | `10` |
/// | `status.timeoutSeconds` | `STATUS_TIMEOUT_SECONDS` | `5`, or half the interval when that is shorter; below the interval |
/// | `status.concurrency` | `STATUS_CONCURRENCY` | `16` (tenant × driver polls in flight at once) |
/// | `status.eventPrefetch` | `STATUS_EVENT_PREFETCH` | `32` (unacked state events at once) |
/// | `status.instanceId` | `STATUS_INSTANCE_ID` | `<hostname>.<pid>` (holder of the poller lease) |
package struct CollectorConfiguration: Sendable {
    /// The name of the quorum queue the collector applies state events from.
    package static let defaultEventsQueue = Routing.collectorEventsQueue

    package var amqp: AMQPConfiguration
    package var redis: RedisConfiguration
    /// Time between the starts of two poll rounds.
    package var interval: Duration
    /// How long one `machine.states` request may wait for its reply; a driver that takes longer has
    /// its machines marked `unknown`.
    package var timeout: Duration
    /// Most (tenant, driver) polls in flight at once.
    package var concurrency: Int
    /// Prefetch of the event consumer.
    package var eventPrefetch: UInt16
    /// The queue state events are consumed from (tests on a shared broker use their own).
    package var eventsQueue: String
    /// How often Redis is pinged for `/readyz`.
    package var redisProbeInterval: Duration
    /// This replica's name in the poller lease: of several collectors only the lease holder polls.
    package var instanceId: String

    /// How long the poller lease lives unless renewed (every round): two intervals, so a holder that
    /// stops renewing is replaced within about three.
    package var pollerLeaseTTL: Duration { interval * 2 }

    /// Settings given directly (tests, the local stack).
    package init(
        amqp: AMQPConfiguration, redis: RedisConfiguration, interval: Duration = .seconds(10),
        timeout: Duration = .seconds(5), concurrency: Int = 16, eventPrefetch: UInt16 = 32,
        eventsQueue: String = CollectorConfiguration.defaultEventsQueue, redisProbeInterval: Duration = .seconds(1),
        instanceId: String = ServiceInstance.defaultID
    ) {
        self.amqp = amqp
        self.redis = redis
        self.interval = interval
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self.eventPrefetch = max(1, eventPrefetch)
        self.eventsQueue = eventsQueue
        self.redisProbeInterval = redisProbeInterval
        self.instanceId = instanceId
    }

    /// Reads the settings; `serviceName` names the AMQP connection in the broker's connection list.
    /// - Throws: ``PazServiceKit/ServiceKitError`` naming the environment variable of a bad value.
    package init(reader: ConfigReader, serviceName: String) throws(ServiceKitError) {
        let connections = try ConnectionSettings(reader: reader, serviceName: serviceName)
        let seconds = try reader.value("status.intervalSeconds", default: 10, in: 1...3600)
        let interval = Duration.seconds(seconds)
        let timeout: Duration
        if let explicit: Int = try reader.optional("status.timeoutSeconds") {
            guard explicit >= 1, explicit < seconds else {
                throw .invalidConfiguration(
                    key: "status.timeoutSeconds",
                    environmentVariable: ConfigurationSources.environmentVariable(for: "status.timeoutSeconds"),
                    value: "\(explicit)", expected: "at least 1 and fewer seconds than STATUS_INTERVAL_SECONDS (\(seconds))")
            }
            timeout = .seconds(explicit)
        } else {
            timeout = min(.seconds(5), interval / 2)
        }
        self.init(
            amqp: connections.amqp, redis: connections.redis,
            interval: interval, timeout: timeout,
            concurrency: try reader.value("status.concurrency", default: 16, in: 1...1024),
            eventPrefetch: UInt16(try reader.value("status.eventPrefetch", default: 32, in: 1...65_535)),
            instanceId: try reader.value("status.instanceId", default: ServiceInstance.defaultID))
    }
}
