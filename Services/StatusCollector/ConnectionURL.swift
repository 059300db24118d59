import Foundation
import PazAMQP
import PazRedis
import PazServiceKit

/// Parses the `AMQP_URL` and `REDIS_URL` settings. Error messages never repeat the value: it may
/// carry a password.
enum ConnectionURL {
    /// `amqp://user:password@host:port/vhost` (vhost percent-encoded; an empty path is `/`).
    static func amqp(_ text: String, key: String, connectionName: String) throws(ServiceKitError) -> AMQPConfiguration {
        guard let url = URLComponents(string: text), url.scheme == "amqp", let host = url.host, !host.isEmpty else {
            throw invalid(key, "a URL like amqp://user:password@127.0.0.1:5672/")
        }
        let path = url.percentEncodedPath.dropFirst()
        let vhost = path.isEmpty ? "/" : (String(path).removingPercentEncoding ?? String(path))
        return AMQPConfiguration(
            host: host, port: url.port ?? 5672, user: url.user ?? "guest", password: url.password ?? "guest",
            virtualHost: vhost, connectionName: connectionName)
    }

    /// `redis://[:password@]host:port/db`.
    static func redis(_ text: String, key: String) throws(ServiceKitError) -> RedisConfiguration {
        guard let url = URLComponents(string: text), url.scheme == "redis", let host = url.host, !host.isEmpty else {
            throw invalid(key, "a URL like redis://127.0.0.1:6379/0")
        }
        let path = url.path.dropFirst()
        guard let database = path.isEmpty ? 0 : Int(path) else {
            throw invalid(key, "a URL whose path is a database number, like redis://127.0.0.1:6379/0")
        }
        return RedisConfiguration(host: host, port: url.port ?? 6379, password: url.password, database: database)
    }

    private static func invalid(_ key: String, _ expected: String) -> ServiceKitError {
        .invalidConfiguration(
            key: key, environmentVariable: ConfigurationSources.environmentVariable(for: key), value: "(not shown)",
            expected: expected)
    }
}
