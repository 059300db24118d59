import PazAMQP
import PazRedis
import PazSchemas
import PazServiceKit
import PazSSHBroker
import Testing

@Suite("SSH broker configuration")
struct ConfigurationTests {
    @Test("defaults follow docs/control-plane.md; the master key file is required")
    func defaults() async throws {
        let reader = try await ConfigurationSources.makeReader(environment: ["PAZ_MASTER_KEY_FILE": "/etc/paz/master.key"])
        let configuration = try BrokerConfiguration(reader: reader, serviceName: "ssh-broker")
        #expect(configuration.masterKeyFile == "/etc/paz/master.key")
        #expect(configuration.defaultTTLSeconds == 300)
        #expect(configuration.maxTTLSeconds == 3600)
        #expect(configuration.prefetch == 16)
        #expect(configuration.queue == Routing.sshBrokerQueue)
        #expect(configuration.amqp.host == "127.0.0.1" && configuration.amqp.port == 5672)
        #expect(configuration.amqp.connectionName == "ssh-broker")
        #expect(configuration.redis.port == 6379)
        #expect(configuration.userCertificateTTL(requested: nil) == 300)
        #expect(configuration.userCertificateTTL(requested: 60) == 60)
        #expect(configuration.userCertificateTTL(requested: 86_400) == 3600)
        #expect(configuration.authorizeSenders)
    }

    @Test("SSH_AUTHORIZE_SENDERS turns sender authorization off; REDIS_URL may name an ACL user, never shown with its password")
    func authorizationAndRedisUser() async throws {
        let reader = try await ConfigurationSources.makeReader(environment: [
            "PAZ_MASTER_KEY_FILE": "/k", "SSH_AUTHORIZE_SENDERS": "false",
            "REDIS_URL": "redis://paz-ssh-broker:hunter2@127.0.0.3:6380/1",
        ])
        let configuration = try BrokerConfiguration(reader: reader, serviceName: "ssh-broker")
        #expect(!configuration.authorizeSenders)
        #expect(configuration.redis.username == "paz-ssh-broker")
        #expect(configuration.redis.password == "hunter2")
        #expect(configuration.redis.database == 1)
        #expect(configuration.redis.address == "paz-ssh-broker@127.0.0.3:6380")
        let anonymous = try await ConfigurationSources.makeReader(environment: ["PAZ_MASTER_KEY_FILE": "/k", "REDIS_URL": "redis://:pw@127.0.0.3:6380/0"])
        let withoutUser = try BrokerConfiguration(reader: anonymous, serviceName: "ssh-broker").redis
        #expect(withoutUser.username == nil && withoutUser.password == "pw")
    }

    @Test("a missing master key file is refused naming PAZ_MASTER_KEY_FILE")
    func masterKeyRequired() async throws {
        let reader = try await ConfigurationSources.makeReader(environment: [:])
        do {
            _ = try BrokerConfiguration(reader: reader, serviceName: "ssh-broker")
            Issue.record("accepted a configuration without a master key file")
        } catch {
            #expect(error == .missingConfiguration(key: "paz.masterKeyFile", environmentVariable: "PAZ_MASTER_KEY_FILE"))
            #expect(error.description.contains("PAZ_MASTER_KEY_FILE"))
        }
    }

    @Test("environment values are read; a default above the maximum or an out-of-range value is refused")
    func environment() async throws {
        let reader = try await ConfigurationSources.makeReader(environment: [
            "PAZ_MASTER_KEY_FILE": "/k", "SSH_DEFAULT_TTL_SECONDS": "120", "SSH_MAX_TTL_SECONDS": "900",
            "SSH_PREFETCH": "4", "AMQP_URL": "amqp://paz:s3cret@127.0.0.2:5673/paz", "REDIS_URL": "redis://127.0.0.3:6380/2",
        ])
        let configuration = try BrokerConfiguration(reader: reader, serviceName: "ssh-broker")
        #expect(configuration.defaultTTLSeconds == 120)
        #expect(configuration.maxTTLSeconds == 900)
        #expect(configuration.prefetch == 4)
        #expect(configuration.amqp.password == "s3cret")
        #expect(configuration.redis.database == 2)

        let above = try await ConfigurationSources.makeReader(environment: [
            "PAZ_MASTER_KEY_FILE": "/k", "SSH_DEFAULT_TTL_SECONDS": "1000", "SSH_MAX_TTL_SECONDS": "900",
        ])
        #expect { try BrokerConfiguration(reader: above, serviceName: "ssh-broker") } throws: { error in
            "\(error)".contains("SSH_DEFAULT_TTL_SECONDS")
        }
        let small = try await ConfigurationSources.makeReader(environment: [
            "PAZ_MASTER_KEY_FILE": "/k", "SSH_MAX_TTL_SECONDS": "100",
        ])
        // The default follows a maximum below 300.
        #expect(try BrokerConfiguration(reader: small, serviceName: "ssh-broker").defaultTTLSeconds == 100)
        let bad = try await ConfigurationSources.makeReader(environment: ["PAZ_MASTER_KEY_FILE": "/k", "SSH_MAX_TTL_SECONDS": "0"])
        #expect { try BrokerConfiguration(reader: bad, serviceName: "ssh-broker") } throws: { error in
            "\(error)".contains("SSH_MAX_TTL_SECONDS")
        }
    }
}
