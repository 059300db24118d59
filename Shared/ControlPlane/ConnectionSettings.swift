package import Configuration
import Foundation
package import PazAMQP
package import PazRedis
package import PazServiceKit

/// Where a service finds RabbitMQ and Redis: the `AMQP_URL` and `REDIS_URL` settings every service
/// reads (docs/control-plane.md, "Configuration"). Both are read as secrets (they may carry
/// passwords), and error messages never repeat their values.
package struct ConnectionSettings: Sendable {
    package var amqp: AMQPConfiguration
    package var redis: RedisConfiguration

    /// `amqp.url` (default `amqp://guest:guest@127.0.0.1:5672/`) and `redis.url` (default
    /// `redis://127.0.0.1:6379/0`); `serviceName` names the AMQP connection.
    package init(reader: ConfigReader, serviceName: String) throws(ServiceKitError) {
        let amqpURL = reader.secret("amqp.url")?.reveal() ?? "amqp://guest:guest@127.0.0.1:5672/"
        let redisURL = reader.secret("redis.url")?.reveal() ?? "redis://127.0.0.1:6379/0"
        amqp = try Self.amqp(amqpURL, connectionName: serviceName)
        redis = try Self.redis(redisURL)
    }

    /// `amqp://user:password@host:port/vhost` (vhost percent-encoded; an empty path is `/`).
    package static func amqp(_ text: String, connectionName: String) throws(ServiceKitError) -> AMQPConfiguration {
        guard let url = URLComponents(string: text), url.scheme == "amqp", let host = url.host, !host.isEmpty else {
            throw invalid("amqp.url", "a URL like amqp://user:password@127.0.0.1:5672/")
        }
        let path = url.percentEncodedPath.dropFirst()
        let vhost = path.isEmpty ? "/" : (String(path).removingPercentEncoding ?? String(path))
        return AMQPConfiguration(
            host: host, port: url.port ?? 5672, user: url.user ?? "guest", password: url.password ?? "guest",
            virtualHost: vhost, connectionName: connectionName)
    }

    /// `redis://[[user]:password@]host:port/db` (user and password percent-decoded; without a user
    /// name the password is the `default` user's).
    package static func redis(_ text: String) throws(ServiceKitError) -> RedisConfiguration {
        guard let url = URLComponents(string: text), url.scheme == "redis", let host = url.host, !host.isEmpty else {
            throw invalid("redis.url", "a URL like redis://user:password@127.0.0.1:6379/0")
        }
        let path = url.path.dropFirst()
        guard let database = path.isEmpty ? 0 : Int(path) else {
            throw invalid("redis.url", "a URL whose path is a database number, like redis://127.0.0.1:6379/0")
        }
        let user = url.user.flatMap { $0.isEmpty ? nil : $0 }
        return RedisConfiguration(host: host, port: url.port ?? 6379, username: user, password: url.password, database: database)
    }

    private static func invalid(_ key: String, _ expected: String) -> ServiceKitError {
        .invalidConfiguration(
            key: key, environmentVariable: ConfigurationSources.environmentVariable(for: key), value: "(not shown)",
            expected: expected)
    }
}
