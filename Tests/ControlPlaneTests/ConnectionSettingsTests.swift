import Foundation
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

    @Test("AMQP and Redis URLs: percent-decoded credentials and vhost, IPv6 hosts, default ports, what URLComponents reads")
    func urls() throws {
        let amqp = try ConnectionSettings.amqp("amqp://us%40er:p%3Ass%2Fw@rabbit-1.example.test:5673/%2fpaz", connectionName: "t")
        #expect(amqp.nodes == [AMQPNode(host: "rabbit-1.example.test", port: 5673)])
        #expect(amqp.user == "us@er" && amqp.password == "p:ss/w" && amqp.virtualHost == "/paz")
        let defaults = try ConnectionSettings.amqp("AMQP://127.0.0.1", connectionName: "t")
        #expect(defaults.nodes == [AMQPNode(host: "127.0.0.1", port: 5672)] && defaults.user == "guest" && defaults.virtualHost == "/")
        let ipv6 = try ConnectionSettings.redis("redis://:only-password@[::1]:6380/3?ignored#too")
        #expect(ipv6.host == "::1" && ipv6.port == 6380 && ipv6.database == 3)
        #expect(ipv6.username == nil && ipv6.password == "only-password")
        let plain = try ConnectionSettings.redis("redis://127.0.0.1")
        #expect(plain.port == 6379 && plain.database == 0 && plain.password == nil)
        // The same parts Foundation's parser finds (it is not used: its host loads ICU).
        for text in ["amqp://a:b@127.0.0.1:5672/", "amqp://svc:s%25cret@h-1.test:1/v%2Fh", "amqp://127.0.0.2"] {
            let parsed = try ConnectionSettings.amqp(text, connectionName: "t")
            let reference = try #require(URLComponents(string: text))
            #expect(parsed.nodes.first?.host == reference.host && parsed.nodes.first?.port == reference.port ?? 5672)
            #expect(parsed.user == reference.user ?? "guest" && parsed.password == reference.password ?? "guest")
        }
    }

    @Test("malformed URLs are refused with the variable's name, never the value", arguments: [
        "127.0.0.1:5672", "amqp:/127.0.0.1", "amqp://", "amqp://:5672/", "amqp://user@/", "amqp://host name/",
        "amqp://host:0/", "amqp://host:65536/", "amqp://host:56x/", "amqp://[::1/", "amqp://[zz]/", "amqp://u:%zz@host/",
        "http://127.0.0.1/", "amqp://hôst/",
    ])
    func malformedURLs(_ text: String) {
        #expect(throws: ServiceKitError.self) { try ConnectionSettings.amqp(text, connectionName: "t") }
        let redis = text.replacingOccurrences(of: "amqp:", with: "redis:")
        let error = #expect(throws: ServiceKitError.self) { try ConnectionSettings.redis(redis) }
        #expect("\(error.map { "\($0)" } ?? "")".contains("REDIS_URL"))
        #expect("\(error.map { "\($0)" } ?? "")".contains("(not shown)"))
    }

    @Test("a Redis URL whose path is not a database number is refused", arguments: ["redis://h/x", "redis://h/-1", "redis://h/1/2"])
    func badDatabase(_ text: String) {
        #expect(throws: ServiceKitError.self) { try ConnectionSettings.redis(text) }
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
