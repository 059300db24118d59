import PazAMQP
import PazControlPlane
import PazRedis
import PazServiceKit
import Testing

@Suite("Connection settings: RabbitMQ cluster nodes and Redis Sentinel")
struct ConnectionSettingsTests {
    private func settings(_ environment: [String: String]) async throws -> ConnectionSettings {
        try ConnectionSettings(reader: try await ConfigurationSources.makeReader(environment: environment), serviceName: "test")
    }

    @Test("AMQP_URLS: the first node, then the others; REDIS_SENTINELS with the master name and the URL's credentials")
    func clusterSettings() async throws {
        let settings = try await settings([
            "AMQP_URLS": "amqp://svc:s3cret@127.0.0.1:5672/paz, amqp://svc:s3cret@127.0.0.2:5673/paz",
            "REDIS_URL": "redis://svc:pw@127.0.0.1:6379/2",
            "REDIS_SENTINELS": "127.0.0.1:26379,127.0.0.2:26380",
            "REDIS_SENTINEL_MASTER": "paz",
        ])
        #expect(settings.amqp.nodes == [AMQPNode(host: "127.0.0.1", port: 5672), AMQPNode(host: "127.0.0.2", port: 5673)])
        #expect(settings.amqp.user == "svc" && settings.amqp.virtualHost == "paz")
        let sentinel = try #require(settings.redis.sentinel)
        #expect(sentinel.sentinels == [RedisEndpoint(host: "127.0.0.1", port: 26379), RedisEndpoint(host: "127.0.0.2", port: 26380)])
        #expect(sentinel.masterName == "paz")
        #expect(settings.redis.username == "svc" && settings.redis.password == "pw" && settings.redis.database == 2)
        #expect(!settings.redis.address.contains("pw"))
    }

    @Test("without the cluster settings: one node, no Sentinel")
    func singleNode() async throws {
        let settings = try await settings(["AMQP_URL": "amqp://a:b@127.0.0.1:5672/"])
        #expect(settings.amqp.nodes == [AMQPNode(host: "127.0.0.1", port: 5672)])
        #expect(settings.redis.sentinel == nil)
    }

    @Test("bad cluster settings are refused with the variable's name and never its secret value")
    func badSettings() async throws {
        let mixed = await #expect(throws: ServiceKitError.self) {
            try await settings(["AMQP_URLS": "amqp://svc:s3cret@127.0.0.1:5672/,amqp://other:x@127.0.0.2:5672/"])
        }
        #expect("\(mixed.map { "\($0)" } ?? "")".contains("same user") && !"\(mixed.map { "\($0)" } ?? "")".contains("s3cret"))
        let sentinels = await #expect(throws: ServiceKitError.self) {
            try await settings(["REDIS_SENTINELS": "127.0.0.1", "REDIS_SENTINEL_MASTER": "paz"])
        }
        #expect("\(sentinels.map { "\($0)" } ?? "")".contains("REDIS_SENTINELS"))
        let master = await #expect(throws: ServiceKitError.self) {
            try await settings(["REDIS_SENTINELS": "127.0.0.1:26379"])
        }
        #expect("\(master.map { "\($0)" } ?? "")".contains("REDIS_SENTINEL_MASTER"))
    }
}
