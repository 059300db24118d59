import PazAMQP
import PazRedis
import PazServiceKit
import PazStatusCollector
import Testing

@Suite("Status collector configuration")
struct ConfigurationTests {
    @Test("Defaults follow docs/control-plane.md")
    func defaults() async throws {
        let reader = try await ConfigurationSources.makeReader(environment: [:])
        let configuration = try CollectorConfiguration(reader: reader, serviceName: "status-collector")
        #expect(configuration.interval == .seconds(10))
        #expect(configuration.timeout == .seconds(5))
        #expect(configuration.amqp.host == "127.0.0.1")
        #expect(configuration.amqp.port == 5672)
        #expect(configuration.redis.port == 6379)
        #expect(configuration.eventsQueue == "paz.collector.events")
    }

    @Test("Environment values are read; the timeout defaults to half a short interval")
    func environment() async throws {
        let reader = try await ConfigurationSources.makeReader(environment: [
            "STATUS_INTERVAL_SECONDS": "2", "AMQP_URL": "amqp://paz:s3cret@127.0.0.2:5673/paz",
            "REDIS_URL": "redis://127.0.0.3:6380/2",
        ])
        let configuration = try CollectorConfiguration(reader: reader, serviceName: "status-collector")
        #expect(configuration.interval == .seconds(2))
        #expect(configuration.timeout == .seconds(1))
        #expect(configuration.amqp.user == "paz")
        #expect(configuration.amqp.password == "s3cret")
        #expect(configuration.amqp.virtualHost == "paz")
        #expect(configuration.redis.host == "127.0.0.3")
        #expect(configuration.redis.database == 2)
    }

    @Test("A timeout not below the interval, or a bad URL, is refused naming the variable (never the password)")
    func invalid() async throws {
        let slow = try await ConfigurationSources.makeReader(environment: [
            "STATUS_INTERVAL_SECONDS": "5", "STATUS_TIMEOUT_SECONDS": "5",
        ])
        #expect { try CollectorConfiguration(reader: slow, serviceName: "c") } throws: { error in
            "\(error)".contains("STATUS_TIMEOUT_SECONDS")
        }
        let bad = try await ConfigurationSources.makeReader(environment: ["AMQP_URL": "http://u:hunter2@x/"])
        #expect { try CollectorConfiguration(reader: bad, serviceName: "c") } throws: { error in
            "\(error)".contains("AMQP_URL") && !"\(error)".contains("hunter2")
        }
    }
}
