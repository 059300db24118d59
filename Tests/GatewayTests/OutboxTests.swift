import Foundation
import PazAMQP
import PazGateway
import PazHTTP
import PazRedis
import PazSchemas
import PazStore
import PazTestSupport
import Testing

/// Commands whose publish outcome is unknown are never forgotten.
@Suite("Gateway outbox")
struct OutboxTests {
    @Test("Unconfirmed commands: the operation stands (202, records kept) and the relay publishes them again, same ids")
    func unconfirmedCommandsAreRepublished() async throws {
        // Every confirm "times out" at once: RabbitMQ stores the commands, the gateway cannot know.
        // A Redis of its own: every gateway's relay serves the outbox of the Redis it uses, and other
        // tests run gateways on other brokers.
        let redis = try await TestRedis.privateServer(appendOnly: false)
        let gateway = try await GatewayHarness.start(redis: redis) { $0.amqp.confirmTimeout = .zero }
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("outbox")
        let driver = try await gateway.announceDriver("outbox", options: GatewayTests.options)
        let created = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token,
            json: #"{"name":"unsure","driver":"\#(driver)","count":3,"options":{"accel":"kvm"}}"#)
        #expect(created.status == 202, "\(String(decoding: created.body, as: UTF8.self))")
        let operation = try OperationID(try #require(json(created)["id"] as? String))
        let tenantID = try TenantID(tenant.id)
        #expect(try await gateway.store.machines(tenant: tenantID).count == 3)
        #expect(try await gateway.store.redis.getString(StoreKeys.outbox(tenantID, operation)) != nil)

        // The first copies, then the relay's (due after 2 s): every machine's create at least twice, one id each.
        let commands = try await gateway.drainCommands(driver: driver, count: 6, timeout: .seconds(15))
        #expect(commands.count >= 6)
        #expect(Set(commands.map(\.messageId)).count == 3)
        #expect(Set(commands.flatMap(\.payload.machines)).count == 3)
        #expect(commands.allSatisfy { $0.operationId == operation })
    }

    @Test("The relay gives up after its deadline: the machines of unqueued commands fail and the operation ends")
    func relayGivesUp() async throws {
        let redis = try await TestRedis.privateServer(appendOnly: false)
        let gateway = try await GatewayHarness.start(redis: redis)
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("giveup")
        let driver = try await gateway.announceDriver("giveup", options: GatewayTests.options)
        let created = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token,
            json: #"{"name":"stuck","driver":"\#(driver)","count":1,"options":{"accel":"kvm"}}"#)
        #expect(created.status == 202)
        let operation = try OperationID(try #require(json(created)["id"] as? String))
        let command = try #require(try await gateway.drainCommands(driver: driver, count: 1).first)
        // As if that command had never been confirmed, long ago, for a driver whose queue is gone.
        var entry = OutboxEntry(
            tenant: try TenantID(tenant.id), operation: operation, driver: try ResourceName("gone-\(UUID().uuidString.prefix(6).lowercased())"),
            commands: [String(decoding: try MessageCodec.encode(command), as: UTF8.self)],
            createdAt: Date().addingTimeInterval(-3600))
        entry.attempts = 9
        try await gateway.store.putOutbox(entry, dueIn: .zero)

        var state = ""
        var answer: [String: Any] = [:]
        let deadline = ContinuousClock.now + .seconds(20)
        while state != "failed", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(250))
            answer = json(try await gateway.request(.get, "/v1/operations/\(operation.rawValue)", token: tenant.token))
            state = answer["state"] as? String ?? state
        }
        #expect(state == "failed")
        #expect(String(describing: answer).contains("could not be queued"))
        // The relay ends the operation first and then removes the entry (so a crash between the two
        // retries the ending, never loses it): the removal may follow a moment later.
        var removed = false
        let removalDeadline = ContinuousClock.now + .seconds(10)
        while !removed, ContinuousClock.now < removalDeadline {
            removed = try await gateway.store.redis.getString(StoreKeys.outbox(entry.tenant, operation)) == nil
            if !removed { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(removed, "the outbox entry is still there 10 s after the operation failed")
    }
}
