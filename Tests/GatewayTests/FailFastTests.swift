import Foundation
import Logging
import PazConcurrency
import PazGateway
import PazHTTP
import PazLocalServers
import PazSchemas
import PazStore
import PazServiceKit
import PazTestSupport
import Synchronization
import Testing

/// Failing fast: with Redis or RabbitMQ down or blocked the gateway answers 503 with `Retry-After` at
/// once (its circuit breaker), and serves again when the dependency is back. Each test has private
/// servers it may stop. Time bounds are generous (parallel suites on 2 cores); `paz-bench fail-fast`
/// measures the real figures.
@Suite("Gateway: failing fast while a dependency is down", .timeLimit(.minutes(4)))
struct FailFastTests {
    /// Opens after 3 failures, for 300 ms doubling up to 1 s: short enough for a test to see it close.
    static let policy = CircuitBreaker.Policy(failureThreshold: 3, coolDown: .milliseconds(300), maximumCoolDown: .seconds(1))

    @Test("the breaker refuses with 503 dependency-unavailable and Retry-After from the rest of its cool-down")
    func breakerAnswer() async throws {
        let now = Mutex(ContinuousClock.now)
        let breaker = DependencyBreaker(
            .redis, policy: .init(failureThreshold: 2, coolDown: .milliseconds(2_500)), logger: Logger(label: "test"),
            clock: { now.withLock { $0 } })
        #expect(try breaker.admit() == .regular)
        breaker.failed(reason: "refused")
        #expect(!breaker.isOpen)
        breaker.failed(reason: "refused")
        #expect(breaker.isOpen)
        do {
            _ = try breaker.admit()
            Issue.record("an open breaker must refuse")
        } catch {
            #expect(error.description.hasPrefix("503 dependency-unavailable"))
            #expect(error.retryAfter == 3)  // 2.5 s, rounded up
            #expect(error.dependency == .redis)
        }
        now.withLock { $0 += .milliseconds(2_500) }
        #expect(try breaker.admit() == .probe)
        #expect(throws: GatewayProblem.self) { try breaker.admit() }  // one probe at a time
        breaker.succeeded()
        #expect(!breaker.isOpen)
        #expect(try breaker.admit() == .regular)
    }

    @Test("breaker settings come from BREAKER_FAILURE_THRESHOLD, BREAKER_COOL_DOWN_SECONDS, BREAKER_MAX_COOL_DOWN_SECONDS")
    func breakerSettings() async throws {
        func configuration(_ settings: [String: String]) async throws -> GatewayConfiguration {
            let environment = settings.merging(["PAZ_ADMIN_TOKEN": "admin"]) { $1 }
            return try GatewayConfiguration(reader: try await ConfigurationSources.makeReader(environment: environment))
        }
        #expect(try await configuration([:]).breaker == GatewayConfiguration.defaultBreaker)
        let set = try await configuration([
            "BREAKER_FAILURE_THRESHOLD": "2", "BREAKER_COOL_DOWN_SECONDS": "3", "BREAKER_MAX_COOL_DOWN_SECONDS": "9",
        ])
        #expect(set.breaker == CircuitBreaker.Policy(failureThreshold: 2, coolDown: .seconds(3), maximumCoolDown: .seconds(9)))
        await #expect(throws: ServiceKitError.self) { try await configuration(["BREAKER_FAILURE_THRESHOLD": "0"]) }
        await #expect(throws: ServiceKitError.self) {
            try await configuration(["BREAKER_COOL_DOWN_SECONDS": "10", "BREAKER_MAX_COOL_DOWN_SECONDS": "5"])
        }
    }

    @Test("Redis stops: 503 with Retry-After within a second each, health stays up, 200 again after Redis returns")
    func redisDownAndBack() async throws {
        let redis = try await TestRedis.privateServer(appendOnly: true)
        let gateway = try await GatewayHarness.start(redis: redis) { $0.breaker = Self.policy }
        do {
            let tenant = try await gateway.makeTenant("failfast")
            #expect(try await gateway.request(.get, "/v1/clusters", token: tenant.token).status == 200)

            await redis.stop()
            // The first failures open the breaker (the Redis client itself already fails fast).
            for _ in 0..<Self.policy.failureThreshold {
                _ = try await gateway.request(.get, "/v1/clusters", token: tenant.token)
            }
            #expect(gateway.breakers.redis.isOpen)
            var slowest = Duration.zero
            for _ in 0..<20 {
                let started = ContinuousClock.now
                let answer = try await gateway.request(.get, "/v1/clusters", token: tenant.token)
                slowest = max(slowest, ContinuousClock.now - started)
                #expect(answer.status == 503, "\(String(decoding: answer.body, as: UTF8.self))")
                #expect(json(answer)["type"] as? String == "urn:paz:problem:dependency-unavailable")
                #expect(json(answer)["retriable"] as? Bool == true)
                #expect(Int(answer.headers["Retry-After"] ?? "") ?? 0 >= 1)
            }
            #expect(slowest < .seconds(3), "the slowest 503 took \(slowest)")
            let health = ContinuousClock.now
            #expect(try await gateway.request(.get, "/healthz", token: nil).status == 200)
            #expect(try await gateway.request(.get, "/readyz", token: nil).status == 503)
            #expect(ContinuousClock.now - health < .seconds(3))

            try await redis.restart()
            TestRedis.register(redis)
            let recovered = await eventually(timeout: .seconds(15)) {
                (try? await gateway.request(.get, "/v1/clusters", token: tenant.token))?.status == 200
            }
            #expect(recovered)
            #expect(!gateway.breakers.redis.isOpen)
        } catch {
            await gateway.stop()
            await redis.stop()
            throw error
        }
        await gateway.stop()
        await redis.stop()
        try? FileManager.default.removeItem(at: redis.dataDirectory)
    }

    @Test("RabbitMQ blocks publishing (memory alarm): create answers 503 fast; 202 once the alarm clears")
    func brokerBlocked() async throws {
        try await withPrivateBroker("failfast-blocked") { rabbit, _, create in
            #expect(try await create().0.status == 202)
            try await rabbit.setMemoryHighWatermark(0)
            // The broker tells the connection it is blocked when it next publishes; that create fails
            // at once (the wrapper fails publishes waiting for a confirm), the ones after never publish.
            let blocked = await eventually(timeout: .seconds(30)) { (try? await create().0.status) == 503 }
            #expect(blocked)
            var slowest = Duration.zero
            for _ in 0..<5 {
                let (answer, took) = try await create()
                slowest = max(slowest, took)
                #expect(answer.status == 503)
                #expect(json(answer)["type"] as? String == "urn:paz:problem:dependency-unavailable")
                #expect(answer.headers["Retry-After"] != nil)
            }
            #expect(slowest < .seconds(3), "the slowest create while blocked took \(slowest)")
            try await rabbit.setMemoryHighWatermark(0.4)
            #expect(await eventually(timeout: .seconds(30)) { (try? await create().0.status) == 202 })
        }
    }

    @Test("RabbitMQ stops: create answers 503 fast and records nothing; 202 once it is back")
    func brokerDownAndBack() async throws {
        try await withPrivateBroker("failfast-down") { rabbit, context, create in
            #expect(try await create().0.status == 202)
            // A clean stop, not kill -9: RabbitMQ 3.10 keeps a new quorum queue's Ra registration in
            // DETS, which a kill within minutes of the declaration can lose (the queue then never
            // confirms again). The gateway sees the same: its connection closed, reconnecting.
            await rabbit.stopBroker()
            let down = await eventually(timeout: .seconds(10)) {
                if context.harness.breakers.rabbitmq.isOpen { return true }
                return (try? await create().0.status) == 503
            }
            #expect(down)
            let clustersBefore = try await context.harness.store.clusters(tenant: try TenantID(context.tenant.id)).count
            var slowest = Duration.zero
            for _ in 0..<10 {
                let (answer, took) = try await create()
                slowest = max(slowest, took)
                #expect(answer.status == 503, "\(String(decoding: answer.body, as: UTF8.self))")
                #expect(answer.headers["Retry-After"] != nil)
            }
            #expect(slowest < .seconds(3), "the slowest 503 took \(slowest)")
            #expect(try await context.harness.store.clusters(tenant: try TenantID(context.tenant.id)).count == clustersBefore)

            try await TestRabbitMQ.restart(rabbit)
            #expect(await eventually(timeout: .seconds(60)) { (try? await create().0.status) == 202 })
        }
    }

    /// A gateway on a private broker with a tenant and a driver; `create` posts a new cluster and
    /// returns the answer and how long it took.
    private func withPrivateBroker(
        _ name: String,
        _ body: (RabbitMQServer, (harness: GatewayHarness, tenant: (id: String, token: String)),
                 () async throws -> (PazHTTP.HTTPResponse, Duration)) async throws -> Void
    ) async throws {
        let rabbit = try await TestRabbitMQ.startPrivate()
        let harness = try await GatewayHarness.start(rabbit: rabbit) { $0.breaker = Self.policy }
        do {
            let tenant = try await harness.makeTenant(name)
            let driver = try await harness.announceDriver("drv", options: [])
            let counter = Mutex(0)
            let create = { () async throws -> (PazHTTP.HTTPResponse, Duration) in
                let number = counter.withLock { $0 += 1; return $0 }
                let started = ContinuousClock.now
                let answer = try await harness.request(
                    .post, "/v1/clusters", token: tenant.token, json: #"{"name":"c\#(number)","driver":"\#(driver)"}"#)
                return (answer, ContinuousClock.now - started)
            }
            try await body(rabbit, (harness, tenant), create)
        } catch {
            await harness.stop()
            await rabbit.stop()
            throw error
        }
        await harness.stop()
        await rabbit.stop()
    }
}
