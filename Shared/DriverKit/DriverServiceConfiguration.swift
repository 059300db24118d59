package import Configuration
import Foundation
import PazControlPlane
package import PazAMQP
package import PazRedis
package import PazServiceKit

/// A driver service's settings (docs/control-plane.md, "Configuration"):
///
/// | key | env | default |
/// |---|---|---|
/// | `amqp.url` | `AMQP_URL` | `amqp://guest:guest@127.0.0.1:5672/` |
/// | `redis.url` | `REDIS_URL` | `redis://127.0.0.1:6379/0` |
/// | `driver.prefetch` | `DRIVER_PREFETCH` | the driver's default: `8`, `32` for the REST cloud drivers (= commands handled concurrently) |
/// | `driver.queryPrefetch` | `DRIVER_QUERY_PREFETCH` | `16` (= queries answered concurrently, apart from commands) |
/// | `driver.leaseTtlSeconds` | `DRIVER_LEASE_TTL_SECONDS` | `30`: a machine's command lease lives this long unless renewed (every ttl/3) |
/// | `driver.heartbeatTtlSeconds` | `DRIVER_HEARTBEAT_TTL_SECONDS` | `15` (renewed every ttl/3) |
/// | `driver.instanceId` | `DRIVER_INSTANCE_ID` | `<hostname>.<pid>` |
/// | `driver.authorizeSenders` | `DRIVER_AUTHORIZE_SENDERS` | `true`: run commands only from the gateway (queries also from the status collector), by AMQP `user-id` |
///
/// The master key (`PAZ_MASTER_KEY_FILE`) is read by ``DriverServiceMain``.
package struct DriverServiceConfiguration: Sendable {
    package var amqp: AMQPConfiguration
    package var redis: RedisConfiguration
    /// Unacked commands at once; also how many run concurrently.
    package var prefetch: Int
    /// Unacked queries at once (state polls, catalog, probes: their own queue and consumer).
    package var queryPrefetch: Int
    /// How long a machine's command lease lives without renewal (``MachineLease``).
    package var leaseTTL: Duration
    /// TTL of the registry entry.
    package var heartbeatTTL: Duration
    /// This replica's id in the registry.
    package var instanceId: String
    /// Whether a command is run only when its sender may send it (docs/security.md): the AMQP
    /// `user-id` (which RabbitMQ verifies) must be the gateway's, or for a query the gateway's or
    /// the status collector's. Anything else is dead-lettered (`unauthorized-sender`). RabbitMQ alone
    /// cannot stop another service from publishing into this queue through the default exchange.
    /// Off only where every service shares one RabbitMQ user.
    package var authorizeSenders: Bool

    /// Settings given directly (tests).
    package init(amqp: AMQPConfiguration, redis: RedisConfiguration, prefetch: Int = 8, queryPrefetch: Int = 16,
                 leaseTTL: Duration = .seconds(30), heartbeatTTL: Duration = .seconds(15), instanceId: String = ServiceInstance.defaultID,
                 authorizeSenders: Bool = true) {
        self.amqp = amqp
        self.redis = redis
        self.prefetch = prefetch
        self.queryPrefetch = queryPrefetch
        self.leaseTTL = leaseTTL
        self.heartbeatTTL = heartbeatTTL
        self.instanceId = instanceId
        self.authorizeSenders = authorizeSenders
    }

    /// Reads the settings; `serviceName` names the AMQP connection; `defaultPrefetch` is the driver's
    /// own default for `driver.prefetch` (a driver that mostly waits for a provider's API runs more
    /// commands at once than one that boots VMs here).
    package init(reader: ConfigReader, serviceName: String, defaultPrefetch: Int = 8) throws(ServiceKitError) {
        let connections = try ConnectionSettings(reader: reader, serviceName: serviceName)
        amqp = connections.amqp
        redis = connections.redis
        prefetch = try reader.value("driver.prefetch", default: defaultPrefetch, in: 1...1000)
        queryPrefetch = try reader.value("driver.queryPrefetch", default: 16, in: 1...1000)
        leaseTTL = .seconds(try reader.value("driver.leaseTtlSeconds", default: 30, in: 3...3600))
        heartbeatTTL = .seconds(try reader.value("driver.heartbeatTtlSeconds", default: 15, in: 3...3600))
        instanceId = try reader.value("driver.instanceId", default: ServiceInstance.defaultID)
        authorizeSenders = try reader.value("driver.authorizeSenders", default: true)
    }
}
