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
    ///
    /// For a cluster, `amqp.urls` (instead of `amqp.url`) lists every RabbitMQ node, comma-separated,
    /// and `redis.sentinels` (`host:port,…`) with `redis.sentinel.master` (and, when the sentinels
    /// require one, the secret `redis.sentinel.password`) finds the Redis primary through Sentinel;
    /// `redis.url` then gives only the user, password and database.
    package init(reader: ConfigReader, serviceName: String) throws(ServiceKitError) {
        let amqpURLs = reader.secret("amqp.urls")?.reveal() ?? reader.secret("amqp.url")?.reveal() ?? "amqp://guest:guest@127.0.0.1:5672/"
        let redisURL = reader.secret("redis.url")?.reveal() ?? "redis://127.0.0.1:6379/0"
        amqp = try Self.amqpCluster(amqpURLs, connectionName: serviceName)
        redis = try Self.redis(redisURL)
        if let sentinels: String = try reader.optional("redis.sentinels") {
            redis.sentinel = RedisSentinelConfiguration(
                sentinels: try Self.endpoints(sentinels), masterName: try reader.required("redis.sentinel.master"),
                password: reader.secret("redis.sentinel.password")?.reveal())
        }
    }

    /// Comma-separated `amqp://` URLs of the nodes of one cluster: the first gives the user, password
    /// and virtual host, which the others must repeat; each gives a node.
    package static func amqpCluster(_ text: String, connectionName: String) throws(ServiceKitError) -> AMQPConfiguration {
        let urls = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = urls.first else { throw invalid("amqp.urls", "amqp:// URLs separated by commas") }
        var configuration = try amqp(first, connectionName: connectionName)
        for url in urls.dropFirst() {
            let node = try amqp(url, connectionName: connectionName)
            guard node.user == configuration.user, node.password == configuration.password,
                node.virtualHost == configuration.virtualHost
            else {
                throw invalid("amqp.urls", "URLs of one cluster, each with the same user, password and virtual host")
            }
            configuration.otherNodes.append(AMQPNode(host: node.host, port: node.port))
        }
        return configuration
    }

    /// `host:port,host:port…` (the sentinels' addresses).
    private static func endpoints(_ text: String) throws(ServiceKitError) -> [RedisEndpoint] {
        var endpoints: [RedisEndpoint] = []
        for item in text.split(separator: ",") {
            let parts = item.trimmingCharacters(in: .whitespaces).split(separator: ":")
            guard parts.count == 2, !parts[0].isEmpty, let port = Int(parts[1]), (1...65535).contains(port) else {
                throw .invalidConfiguration(
                    key: "redis.sentinels", environmentVariable: ConfigurationSources.environmentVariable(for: "redis.sentinels"),
                    value: "'\(text)'", expected: "host:port pairs separated by commas, like 127.0.0.1:26379,127.0.0.2:26379")
            }
            endpoints.append(RedisEndpoint(host: String(parts[0]), port: port))
        }
        guard !endpoints.isEmpty else {
            throw .invalidConfiguration(
                key: "redis.sentinels", environmentVariable: ConfigurationSources.environmentVariable(for: "redis.sentinels"),
                value: "''", expected: "at least one host:port")
        }
        return endpoints
    }

    /// `amqp://user:password@host:port/vhost` (vhost percent-encoded; an empty path is `/`).
    package static func amqp(_ text: String, connectionName: String) throws(ServiceKitError) -> AMQPConfiguration {
        guard let url = ServiceURL(text), url.scheme == "amqp" else {
            throw invalid("amqp.url", "a URL like amqp://user:password@127.0.0.1:5672/")
        }
        let path = url.percentEncodedPath.dropFirst()
        let vhost = path.isEmpty ? "/" : (String(path).removingPercentEncoding ?? String(path))
        return AMQPConfiguration(
            host: url.host, port: url.port ?? 5672, user: url.user ?? "guest", password: url.password ?? "guest",
            virtualHost: vhost, connectionName: connectionName)
    }

    /// `redis://[[user]:password@]host:port/db` (user and password percent-decoded; without a user
    /// name the password is the `default` user's).
    package static func redis(_ text: String) throws(ServiceKitError) -> RedisConfiguration {
        guard let url = ServiceURL(text), url.scheme == "redis" else {
            throw invalid("redis.url", "a URL like redis://user:password@127.0.0.1:6379/0")
        }
        let path = url.percentEncodedPath.dropFirst()
        guard let database = path.isEmpty ? 0 : Int(path), database >= 0 else {
            throw invalid("redis.url", "a URL whose path is a database number, like redis://127.0.0.1:6379/0")
        }
        let user = url.user.flatMap { $0.isEmpty ? nil : $0 }
        return RedisConfiguration(host: url.host, port: url.port ?? 6379, username: user, password: url.password, database: database)
    }

    private static func invalid(_ key: String, _ expected: String) -> ServiceKitError {
        .invalidConfiguration(
            key: key, environmentVariable: ConfigurationSources.environmentVariable(for: key), value: "(not shown)",
            expected: expected)
    }
}
