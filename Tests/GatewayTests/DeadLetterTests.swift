import Foundation
import Logging
import PazAMQP
import PazControlPlane
import PazHTTP
@testable import PazGateway
import PazSchemas
import PazTestSupport
import Testing

/// Operations always end: a command that dies fails its operation.
@Suite("Gateway dead letters")
struct DeadLetterTests {
    @Test("A command that always fails is retried within its budget, dead-lettered, and its operation ends as failed")
    func deadCommandFailsItsOperation() async throws {
        // Every service of this test shares the broker's one user: no sender to tell apart. Servers of
        // its own (a private Redis brings a private broker): every gateway on a broker consumes its
        // dead letters, and another test's gateway, checking senders, would drop this one's.
        let redis = try await TestRedis.privateServer(appendOnly: false)
        let gateway = try await GatewayHarness.start(redis: redis) { $0.authorizeDeadLetters = false }
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("dead")
        let driver = try await gateway.announceDriver("dead", options: GatewayTests.options)
        // A driver whose every attempt fails (as when it cannot even report): the kit's own consumer.
        let amqp = gateway.amqp
        let failing = MessageConsumer(
            CommandPayload.self, amqp: amqp, ready: { true },
            settings: ConsumerSettings(
                queue: Routing.driverCommandQueue(driver: driver), prefetch: 8, concurrent: true, retry: .commands),
            logger: Logger(label: "test.failing-driver")
        ) { _ in .retry(reason: "the journal is unreachable") }
        let consuming = Task { await failing.run() }
        defer { consuming.cancel() }

        let started = ContinuousClock.now
        let created = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token,
            json: #"{"name":"doomed","driver":"\#(driver)","count":1,"options":{"accel":"kvm"}}"#)
        #expect(created.status == 202)
        let operation = try #require(json(created)["id"] as? String)

        var phase = json(created)["state"] as? String ?? "queued"
        var answer = json(created)
        while !["failed", "succeeded"].contains(phase), ContinuousClock.now - started < .seconds(60) {
            try await Task.sleep(for: .milliseconds(250))
            answer = json(try await gateway.request(.get, "/v1/operations/\(operation)", token: tenant.token))
            phase = answer["state"] as? String ?? phase
        }
        #expect(phase == "failed")
        // 5 attempts, 1 + 2 + 5 + 10 s apart.
        #expect(ContinuousClock.now - started >= .seconds(17))
        let text = String(describing: answer)
        #expect(text.contains("retries-exhausted") && text.contains("the journal is unreachable"), "\(text)")
    }

    @Test("A dead command counts only from RabbitMQ (the gateway's user-id) or the machine's own driver")
    func onlyWhoCouldHaveDeadLetteredIt() throws {
        let driver = ResourceName("qemu")
        #expect(DeadLetterConsumer.mayFail(sender: "paz-gateway", driver: driver))
        #expect(DeadLetterConsumer.mayFail(sender: "paz-driver-qemu", driver: driver))
        #expect(!DeadLetterConsumer.mayFail(sender: "paz-driver-ec2", driver: driver))
        #expect(!DeadLetterConsumer.mayFail(sender: "paz-status-collector", driver: driver))
        #expect(!DeadLetterConsumer.mayFail(sender: nil, driver: driver))
    }
}
