import Foundation
import Logging
import PazAMQP
import PazGateway
import PazHTTP
import PazLocalServers
import PazRedis
import PazSchemas
import PazStore
import PazTestSupport
import Testing

/// Every 5xx path of the gateway, forced with a request that carries a token and a secret option:
/// neither may appear in any log line or anywhere in Redis.
@Suite("Gateway secrecy", .timeLimit(.minutes(3)))
struct SecrecyTests {
    @Test("no 5xx answer logs the request's token or secret option, and Redis holds neither in clear")
    func failuresLogNoSecret() async throws {
        let capture = LogCapture()
        let secret = "SECRET-OPTION-" + UUID().uuidString
        var statuses: [Int: Int] = [:]
        func body(_ driver: ResourceName, _ name: String) -> String {
            #"{"name":"\#(name)","driver":"\#(driver)","options":{"accel":"kvm","api-key":"\#(secret)"}}"#
        }

        // 500: no master key to seal the secret option with; 500: a stored record that does not decode.
        let noKey = try await GatewayHarness.start(logger: capture.logger) { $0.masterKeyFile = nil }
        let tenant = try await noKey.makeTenant("secrecy")
        let driver = try await noKey.announceDriver("drv", options: GatewayTests.options)
        let sealed = try await noKey.request(.post, "/v1/clusters", token: tenant.token, json: body(driver, "s1"))
        statuses[sealed.status, default: 0] += 1
        #expect(sealed.status == 500, "\(String(decoding: sealed.body, as: UTF8.self))")
        _ = try await noKey.store.redis.hset(StoreKeys.clusters(try TenantID(tenant.id)), fields: ["cls_broken": "{not json"])
        _ = try await noKey.store.redis.hset(StoreKeys.clusterNames(try TenantID(tenant.id)), fields: ["broken": "cls_broken"])
        let corrupt = try await noKey.request(.get, "/v1/clusters/broken", token: tenant.token)
        statuses[corrupt.status, default: 0] += 1
        #expect(corrupt.status == 500)
        // 504: a catalog call nobody answers.
        let silent = try await noKey.request(.get, "/v1/drivers/\(driver)/images", token: tenant.token)
        statuses[silent.status, default: 0] += 1
        #expect(silent.status == 504)
        // 503: a driver in the registry whose queue was never declared.
        let ghost = try ResourceName("ghost-\(UUID().uuidString.prefix(8).lowercased())")
        try await noKey.store.announce(DriverAnnouncement(
            name: ghost, version: "0.1.0", instanceId: "ghost", capabilities: [.create], createOptions: GatewayTests.options,
            ttlSeconds: 60, startedAt: Date()))
        let unroutable = try await noKey.request(.post, "/v1/clusters", token: tenant.token, json: body(ghost, "s2"))
        statuses[unroutable.status, default: 0] += 1
        // Sealing fails before publishing without a master key: this path needs the key.
        #expect([500, 503].contains(unroutable.status))
        await noKey.stop()

        // 503: RabbitMQ unreachable; 503: driver queue missing (with a key, so the publish is tried).
        let noBroker = try await GatewayHarness.start(amqpPort: 1, logger: capture.logger)
        let brokerless = try await noBroker.makeTenant("secrecy-broker")
        let brokerDriver = try await noBroker.announceDriver("drv", options: GatewayTests.options)
        let down = try await noBroker.request(.post, "/v1/clusters", token: brokerless.token, json: body(brokerDriver, "s3"))
        statuses[down.status, default: 0] += 1
        #expect(down.status == 503)
        await noBroker.stop()
        let withKey = try await GatewayHarness.start(logger: capture.logger)
        let keyed = try await withKey.makeTenant("secrecy-queue")
        let queueless = try await withKey.request(.post, "/v1/clusters", token: keyed.token, json: body(ghost, "s4"))
        statuses[queueless.status, default: 0] += 1
        #expect(queueless.status == 503)
        await withKey.stop()

        // 503: Redis unreachable.
        let privateRedis = try await RedisServer.start()
        let noRedis = try await GatewayHarness.start(redis: privateRedis, logger: capture.logger)
        let redisTenant = try await noRedis.makeTenant("secrecy-redis")
        let redisDriver = try await noRedis.announceDriver("drv", options: GatewayTests.options)
        await privateRedis.stop()
        let gone = try await noRedis.request(.post, "/v1/clusters", token: redisTenant.token, json: body(redisDriver, "s5"))
        statuses[gone.status, default: 0] += 1
        #expect(gone.status == 503)
        await noRedis.stop()

        print("secrecy: forced 5xx answers by status: \(statuses.sorted { $0.key < $1.key })")
        let logged = capture.text
        #expect(logged.contains("request failed"))
        for token in [tenant.token, brokerless.token, keyed.token, redisTenant.token] {
            #expect(!logged.contains(token), "a tenant token was logged")
            #expect(!logged.contains(String(token.dropFirst(5).prefix(20))), "part of a tenant token was logged")
        }
        #expect(!logged.contains(secret), "the secret option was logged")
        let shared = try await TestRedis.shared()
        let stored = try await RedisContents.all(port: shared.port)
        #expect(!stored.contains { $0.content.contains(secret) || $0.key.contains(secret) }, "the secret option is in Redis in clear")
        #expect(!stored.contains { entry in
            [tenant.token, brokerless.token, keyed.token].contains { entry.content.contains($0) || entry.key.contains($0) }
        }, "a token is in Redis in clear")
    }
}
