import PazAMQP
import PazDriverKit
import PazRedis
import PazServiceKit
import Testing

/// Driver service settings from the environment (docs/control-plane.md, "Configuration").
@Suite struct DriverServiceConfigurationTests {
    @Test func defaultsMatchTheControlPlaneContract() async throws {
        let configuration = try DriverServiceConfiguration(
            reader: try await ConfigurationSources.makeReader(environment: [:]), serviceName: "driver-test")
        #expect(configuration.amqp.host == "127.0.0.1" && configuration.amqp.port == 5672 && configuration.amqp.user == "guest")
        #expect(configuration.amqp.virtualHost == "/" && configuration.amqp.connectionName == "driver-test")
        #expect(configuration.redis.address == "127.0.0.1:6379" && configuration.redis.database == 0)
        #expect(configuration.prefetch == 8)
        #expect(configuration.heartbeatTTL == .seconds(15))
        #expect(configuration.authorizeSenders)
    }

    @Test func urlsAndDriverSettingsAreRead() async throws {
        let reader = try await ConfigurationSources.makeReader(environment: [
            "AMQP_URL": "amqp://paz:s3cret@127.0.0.5:5673/paz%2Fprod", "REDIS_URL": "redis://:pw@127.0.0.6:6380/2",
            "DRIVER_PREFETCH": "3", "DRIVER_HEARTBEAT_TTL_SECONDS": "30", "DRIVER_INSTANCE_ID": "replica-a",
            "DRIVER_AUTHORIZE_SENDERS": "false",
        ])
        let configuration = try DriverServiceConfiguration(reader: reader, serviceName: "driver-test")
        #expect(configuration.amqp.host == "127.0.0.5" && configuration.amqp.port == 5673)
        #expect(configuration.amqp.user == "paz" && configuration.amqp.password == "s3cret")
        #expect(configuration.amqp.virtualHost == "paz/prod")
        #expect(configuration.redis.host == "127.0.0.6" && configuration.redis.port == 6380)
        #expect(configuration.redis.password == "pw" && configuration.redis.database == 2)
        #expect(configuration.prefetch == 3 && configuration.heartbeatTTL == .seconds(30))
        #expect(configuration.instanceId == "replica-a")
        #expect(!configuration.authorizeSenders)
    }

    @Test func aBadURLNamesTheVariableButNotTheValue() async throws {
        let reader = try await ConfigurationSources.makeReader(environment: ["AMQP_URL": "http://user:hunter2@x"])
        do {
            _ = try DriverServiceConfiguration(reader: reader, serviceName: "driver-test")
            Issue.record("a non-amqp URL was accepted")
        } catch {
            #expect("\(error)".contains("AMQP_URL"))
            #expect(!"\(error)".contains("hunter2"))
        }
    }
}
