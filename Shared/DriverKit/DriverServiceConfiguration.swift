package import Configuration
import Foundation
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
        let amqpURL: String = try reader.value("amqp.url", default: "amqp://guest:guest@127.0.0.1:5672/")
        let redisURL: String = try reader.value("redis.url", default: "redis://127.0.0.1:6379/0")
        amqp = try Self.parseAMQP(amqpURL, connectionName: serviceName)
        redis = try Self.parseRedis(redisURL)
        prefetch = try reader.value("driver.prefetch", default: 8, in: 1...1000)
        heartbeatTTL = .seconds(try reader.value("driver.heartbeatTtlSeconds", default: 15, in: 3...3600))
        instanceId = try reader.value("driver.instanceId", default: Self.defaultInstanceId)
    }

    /// `<hostname>.<pid>`.
    package static var defaultInstanceId: String {
        "\(ProcessInfo.processInfo.hostName).\(ProcessInfo.processInfo.processIdentifier)"
    }

    /// `amqp://user:password@host:port/vhost` (vhost percent-encoded; empty path = `/`).
    static func parseAMQP(_ text: String, connectionName: String) throws(ServiceKitError) -> AMQPConfiguration {
        guard let url = URLComponents(string: text), url.scheme == "amqp", let host = url.host, !host.isEmpty else {
            throw invalid("amqp.url", "a URL like amqp://user:password@127.0.0.1:5672/")
        }
        let path = url.percentEncodedPath.dropFirst()
        let vhost = path.isEmpty ? "/" : (String(path).removingPercentEncoding ?? String(path))
        return AMQPConfiguration(
            host: host, port: url.port ?? 5672, user: url.user ?? "guest", password: url.password ?? "guest",
            virtualHost: vhost, connectionName: connectionName)
    }

    /// `redis://[:password@]host:port/db`.
    static func parseRedis(_ text: String) throws(ServiceKitError) -> RedisConfiguration {
        guard let url = URLComponents(string: text), url.scheme == "redis", let host = url.host, !host.isEmpty else {
            throw invalid("redis.url", "a URL like redis://127.0.0.1:6379/0")
        }
        let path = url.path.dropFirst()
        guard let database = path.isEmpty ? 0 : Int(path) else {
            throw invalid("redis.url", "a URL whose path is a database number, like redis://127.0.0.1:6379/0")
        }
        return RedisConfiguration(host: host, port: url.port ?? 6379, password: url.password, database: database)
    }

    private static func invalid(_ key: String, _ expected: String) -> ServiceKitError {
        // The value is not repeated: it may carry a password.
        .invalidConfiguration(key: key, environmentVariable: ConfigurationSources.environmentVariable(for: key),
                              value: "(not shown)", expected: expected)
    }
}
