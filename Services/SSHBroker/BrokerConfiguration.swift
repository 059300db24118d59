package import Configuration
package import PazAMQP
import PazControlPlane
package import PazRedis
import PazSchemas
package import PazServiceKit

/// The SSH broker's settings (docs/control-plane.md, "SSH broker"):
///
/// | key | environment variable | default |
/// |---|---|---|
/// | `amqp.url` | `AMQP_URL` | `amqp://guest:guest@127.0.0.1:5672/` |
/// | `redis.url` | `REDIS_URL` | `redis://127.0.0.1:6379/0` |
/// | `paz.masterKeyFile` | `PAZ_MASTER_KEY_FILE` | required: the key the CA private keys are sealed with |
/// | `ssh.defaultTtlSeconds` | `SSH_DEFAULT_TTL_SECONDS` | `300`: user certificates when the request names no TTL |
/// | `ssh.maxTtlSeconds` | `SSH_MAX_TTL_SECONDS` | `3600`: the cap of any requested TTL |
/// | `ssh.prefetch` | `SSH_PREFETCH` | `16` requests handled at once per replica |
/// | `ssh.authorizeSenders` | `SSH_AUTHORIZE_SENDERS` | `true`: answer only the service kinds allowed to ask (by AMQP `user-id`) |
package struct BrokerConfiguration: Sendable {
    /// The queue requests are consumed from.
    package static let defaultQueue = Routing.sshBrokerQueue

    package var amqp: AMQPConfiguration
    package var redis: RedisConfiguration
    /// File holding the master key (32 raw bytes or their base64), mode 0600.
    package var masterKeyFile: String
    /// Validity of a user certificate when the request names no TTL.
    package var defaultTTLSeconds: Int
    /// The most validity a user certificate gets, whatever the request asks for.
    package var maxTTLSeconds: Int
    /// Unacked requests at once (also how many are handled concurrently).
    package var prefetch: UInt16
    /// The request queue (tests on a shared RabbitMQ use their own).
    package var queue: String
    /// How often Redis is pinged for `/readyz`.
    package var redisProbeInterval: Duration
    /// Whether a request is answered only when its sender may ask for it (docs/security.md): the
    /// AMQP `user-id` (which RabbitMQ verifies) names the sender's ``PazSchemas/ServiceKind``; only the
    /// gateway gets user certificates, and a driver gets host identities only for machines of its
    /// own driver that are being created. Off only where every service shares one RabbitMQ user.
    package var authorizeSenders: Bool

    /// Settings given directly (tests, the local stack). The default TTL is capped at the maximum.
    package init(
        amqp: AMQPConfiguration, redis: RedisConfiguration, masterKeyFile: String, defaultTTLSeconds: Int = 300,
        maxTTLSeconds: Int = 3600, prefetch: UInt16 = 16, queue: String = BrokerConfiguration.defaultQueue,
        redisProbeInterval: Duration = .seconds(1), authorizeSenders: Bool = true
    ) {
        self.amqp = amqp
        self.redis = redis
        self.masterKeyFile = masterKeyFile
        self.maxTTLSeconds = max(1, maxTTLSeconds)
        self.defaultTTLSeconds = min(max(1, defaultTTLSeconds), self.maxTTLSeconds)
        self.prefetch = max(1, prefetch)
        self.queue = queue
        self.redisProbeInterval = redisProbeInterval
        self.authorizeSenders = authorizeSenders
    }

    /// Reads the settings; `serviceName` names the AMQP connection in the broker's connection list.
    /// - Throws: ``PazServiceKit/ServiceKitError`` naming the environment variable of a missing or bad
    ///   value (`PAZ_MASTER_KEY_FILE` when no master key file is configured).
    package init(reader: ConfigReader, serviceName: String) throws(ServiceKitError) {
        let connections = try ConnectionSettings(reader: reader, serviceName: serviceName)
        let masterKeyFile: String = try reader.required("paz.masterKeyFile")
        let maxTTL = try reader.value("ssh.maxTtlSeconds", default: 3600, in: 10...86_400)
        let defaultTTL = try reader.value("ssh.defaultTtlSeconds", default: min(300, maxTTL), in: 10...86_400)
        guard defaultTTL <= maxTTL else {
            throw .invalidConfiguration(
                key: "ssh.defaultTtlSeconds",
                environmentVariable: ConfigurationSources.environmentVariable(for: "ssh.defaultTtlSeconds"),
                value: "\(defaultTTL)", expected: "at most SSH_MAX_TTL_SECONDS (\(maxTTL))")
        }
        self.init(
            amqp: connections.amqp, redis: connections.redis, masterKeyFile: masterKeyFile,
            defaultTTLSeconds: defaultTTL, maxTTLSeconds: maxTTL,
            prefetch: UInt16(try reader.value("ssh.prefetch", default: 16, in: 1...1000)),
            authorizeSenders: try reader.value("ssh.authorizeSenders", default: true))
    }

    /// The validity a user certificate gets for a requested TTL: the default when none is asked for,
    /// never more than the maximum.
    package func userCertificateTTL(requested: Int?) -> Int {
        min(requested ?? defaultTTLSeconds, maxTTLSeconds)
    }
}
