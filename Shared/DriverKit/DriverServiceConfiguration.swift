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
/// | `driver.prefetch` | `DRIVER_PREFETCH` | `8` (= commands handled concurrently) |
/// | `driver.heartbeatTtlSeconds` | `DRIVER_HEARTBEAT_TTL_SECONDS` | `15` (renewed every ttl/3) |
/// | `driver.instanceId` | `DRIVER_INSTANCE_ID` | `<hostname>.<pid>` |
///
/// The master key (`PAZ_MASTER_KEY_FILE`) is read by ``DriverServiceMain``.
package struct DriverServiceConfiguration: Sendable {
    package var amqp: AMQPConfiguration
    package var redis: RedisConfiguration
    /// Unacked commands at once; also how many run concurrently.
    package var prefetch: Int
    /// TTL of the registry entry.
    package var heartbeatTTL: Duration
    /// This replica's id in the registry.
    package var instanceId: String

    /// Settings given directly (tests).
    package init(amqp: AMQPConfiguration, redis: RedisConfiguration, prefetch: Int = 8,
                 heartbeatTTL: Duration = .seconds(15), instanceId: String = DriverServiceConfiguration.defaultInstanceId) {
        self.amqp = amqp
        self.redis = redis
        self.prefetch = prefetch
        self.heartbeatTTL = heartbeatTTL
        self.instanceId = instanceId
    }

    /// Reads the settings; `serviceName` names the AMQP connection.
    package init(reader: ConfigReader, serviceName: String) throws(ServiceKitError) {
        let connections = try ConnectionSettings(reader: reader, serviceName: serviceName)
        amqp = connections.amqp
        redis = connections.redis
        prefetch = try reader.value("driver.prefetch", default: 8, in: 1...1000)
        heartbeatTTL = .seconds(try reader.value("driver.heartbeatTtlSeconds", default: 15, in: 3...3600))
        instanceId = try reader.value("driver.instanceId", default: Self.defaultInstanceId)
    }

    /// `<hostname>.<pid>`.
    package static var defaultInstanceId: String {
        "\(ProcessInfo.processInfo.hostName).\(ProcessInfo.processInfo.processIdentifier)"
    }
}
