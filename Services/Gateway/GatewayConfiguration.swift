package import Configuration
import Foundation
import HTTPTypes
package import PazAMQP
package import PazConcurrency
import PazControlPlane
package import PazRedis
package import PazServiceKit

/// The gateway's settings (docs/control-plane.md, "Configuration").
///
/// | key | environment | default |
/// |---|---|---|
/// | `http.host`, `http.port` | `HTTP_HOST`, `HTTP_PORT` | `127.0.0.1`, `8480` (`0` = any free port) |
/// | `amqp.url` | `AMQP_URL` | `amqp://guest:guest@127.0.0.1:5672/` |
/// | `redis.url` | `REDIS_URL` | `redis://127.0.0.1:6379/0` |
/// | `paz.adminTokenFile` / `paz.adminToken` | `PAZ_ADMIN_TOKEN_FILE` / `PAZ_ADMIN_TOKEN` | required (file preferred) |
/// | `paz.masterKeyFile` | `PAZ_MASTER_KEY_FILE` | optional here; needed to seal secret options |
/// | `status.staleAfterSeconds` | `STATUS_STALE_AFTER_SECONDS` | `30` |
/// | `catalog.timeoutSeconds` | `CATALOG_TIMEOUT_SECONDS` | `15` |
/// | `ssh.brokerTimeoutSeconds` | `SSH_BROKER_TIMEOUT_SECONDS` | `10` |
/// | `http.maxBodyBytes` | `HTTP_MAX_BODY_BYTES` | `1048576` (larger bodies: 413) |
/// | `rate.requestsPerSecond` | `RATE_REQUESTS_PER_SECOND` | `100` per tenant (more: 429) |
/// | `events.maxStreamsPerTenant` | `EVENTS_MAX_STREAMS_PER_TENANT` | `16` open operation event streams (more: 429) |
/// | `deadLetters.authorizeSenders` | `DEAD_LETTERS_AUTHORIZE_SENDERS` | `true`: a dead command fails its operation only when the gateway (RabbitMQ's own dead-lettering) or the machine's driver dead-lettered it |
/// | `breaker.failureThreshold` | `BREAKER_FAILURE_THRESHOLD` | `5` failures in a row open a dependency's circuit breaker |
/// | `breaker.coolDownSeconds` | `BREAKER_COOL_DOWN_SECONDS` | `1`: how long it stays open (503 at once), doubling… |
/// | `breaker.maxCoolDownSeconds` | `BREAKER_MAX_COOL_DOWN_SECONDS` | `…up to 30` while probes keep failing |
package struct GatewayConfiguration: Sendable {
    /// Whether a dead-lettered command fails its operation only when its AMQP `user-id` is the
    /// gateway's (dead-lettered by RabbitMQ, which keeps the original sender) or the machine's own
    /// driver's: any service may publish to `paz.dead-letter`, and must not fail others' operations.
    /// Off only where every service shares one RabbitMQ user.
    package var authorizeDeadLetters = true
    package var httpHost: String
    /// `0` lets the kernel choose (tests read the bound port from ``GatewayServer/listeningPort()``).
    package var httpPort: Int
    package var amqp: AMQPConfiguration
    package var redis: RedisConfiguration
    /// The admin token (secret: never logged).
    package var adminToken: Secret
    /// Path of the master key file; nil when secrets cannot be sealed.
    package var masterKeyFile: String?
    /// A state older than this is reported stale.
    package var staleAfterSeconds: Int
    /// How long a catalog call waits for a driver.
    package var catalogTimeout: Duration
    /// How long a call to the SSH broker waits.
    package var brokerTimeout: Duration
    /// The largest request body accepted.
    package var maxBodyBytes: Int
    /// Requests per second one tenant may make.
    package var rateLimitPerSecond: Int
    /// Operation event streams one tenant may hold open at once on this gateway.
    package var maxEventStreamsPerTenant: Int
    /// When the circuit breakers of Redis and RabbitMQ open, and for how long (docs/control-plane.md,
    /// "Failing fast").
    package var breaker: CircuitBreaker.Policy

    /// Settings given directly (tests).
    package init(
        httpHost: String = "127.0.0.1", httpPort: Int = 8480, amqp: AMQPConfiguration, redis: RedisConfiguration,
        adminToken: Secret, masterKeyFile: String? = nil, staleAfterSeconds: Int = 30,
        catalogTimeout: Duration = .seconds(15), brokerTimeout: Duration = .seconds(10), maxBodyBytes: Int = 1_048_576,
        rateLimitPerSecond: Int = 100, maxEventStreamsPerTenant: Int = 16,
        breaker: CircuitBreaker.Policy = GatewayConfiguration.defaultBreaker
    ) {
        self.httpHost = httpHost
        self.httpPort = httpPort
        self.amqp = amqp
        self.redis = redis
        self.adminToken = adminToken
        self.masterKeyFile = masterKeyFile
        self.staleAfterSeconds = staleAfterSeconds
        self.catalogTimeout = catalogTimeout
        self.brokerTimeout = brokerTimeout
        self.maxBodyBytes = maxBodyBytes
        self.rateLimitPerSecond = rateLimitPerSecond
        self.maxEventStreamsPerTenant = maxEventStreamsPerTenant
        self.breaker = breaker
    }

    /// 5 failures in a row; open 1 s, doubling up to 30 s.
    package static let defaultBreaker = CircuitBreaker.Policy(
        failureThreshold: 5, coolDown: .seconds(1), maximumCoolDown: .seconds(30))

    /// Reads the settings from `reader` (environment and `PAZ_CONFIG_FILE`).
    package init(reader: ConfigReader) throws(ServiceKitError) {
        httpHost = try reader.value("http.host", default: "127.0.0.1")
        httpPort = try reader.value("http.port", default: 8480, in: 0...65_535)
        let connections = try ConnectionSettings(reader: reader, serviceName: "paz-gateway")
        amqp = connections.amqp
        redis = connections.redis
        if let path: String = try reader.optional("paz.adminTokenFile") {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw .invalidConfiguration(
                    key: "paz.adminTokenFile", environmentVariable: "PAZ_ADMIN_TOKEN_FILE", value: "'\(path)'",
                    expected: "a readable file holding the admin token")
            }
            adminToken = Secret(text.trimmingCharacters(in: .whitespacesAndNewlines))
        } else {
            adminToken = try reader.requiredSecret("paz.adminToken")
        }
        guard !adminToken.reveal().isEmpty else {
            throw .missingConfiguration(key: "paz.adminToken", environmentVariable: "PAZ_ADMIN_TOKEN")
        }
        masterKeyFile = try reader.optional("paz.masterKeyFile")
        staleAfterSeconds = try reader.value("status.staleAfterSeconds", default: 30, in: 1...86_400)
        catalogTimeout = .seconds(try reader.value("catalog.timeoutSeconds", default: 15, in: 1...300))
        brokerTimeout = .seconds(try reader.value("ssh.brokerTimeoutSeconds", default: 10, in: 1...300))
        maxBodyBytes = try reader.value("http.maxBodyBytes", default: 1_048_576, in: 1_024...67_108_864)
        rateLimitPerSecond = try reader.value("rate.requestsPerSecond", default: 100, in: 1...1_000_000)
        maxEventStreamsPerTenant = try reader.value("events.maxStreamsPerTenant", default: 16, in: 1...10_000)
        authorizeDeadLetters = try reader.value("deadLetters.authorizeSenders", default: true)
        let threshold = try reader.value("breaker.failureThreshold", default: 5, in: 1...1_000)
        let coolDown = try reader.value("breaker.coolDownSeconds", default: 1, in: 1...3_600)
        let maximum = try reader.value("breaker.maxCoolDownSeconds", default: max(30, coolDown), in: coolDown...3_600)
        breaker = CircuitBreaker.Policy(failureThreshold: threshold, coolDown: .seconds(coolDown), maximumCoolDown: .seconds(maximum))
    }
}
