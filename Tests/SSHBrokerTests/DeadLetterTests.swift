import Foundation
import PazAMQP
import PazSchemas
import PazSSHBroker
import Testing

@Suite("SSH broker: poison messages and commands it does not answer")
struct DeadLetterTests {
    @Test("malformed, other-major and tenant-less messages are dead-lettered with a reason; the broker keeps answering")
    func poisonMessages() async throws {
        let harness = try await BrokerHarness.make(name: "poison")
        defer { Task { await harness.stop() } }
        // A queue of this test's own bound to the dead-letter fanout gets a copy of everything
        // dead-lettered, without competing with other suites for `paz.dead-letter`.
        let copies = unique("test.ssh-broker.dead-letters")
        try await harness.client.declare(AMQPExchange(name: Routing.deadLetterExchange, kind: .fanout))
        try await harness.client.declare(AMQPQueue(name: copies, durable: false, autoDelete: true))
        try await harness.client.bind(AMQPBinding(queue: copies, exchange: Routing.deadLetterExchange, routingKey: ""))
        let tenant = try harness.newTenant()
        let marker = "poison-\(UUID().uuidString)"
        let machine = MachineRef(clusterId: .random(), machineId: .random())

        let good = CommandEnvelope(
            tenantId: tenant, trace: .newTrace(),
            payload: .sshHostIdentity(HostIdentityRequest(machine: machine, principals: ["web-1"])))
        var future = try #require(try JSONSerialization.jsonObject(with: MessageCodec.encode(good)) as? [String: Any])
        future["schemaVersion"] = "2.0"
        future["marker"] = marker
        var tenantless = try #require(try JSONSerialization.jsonObject(with: MessageCodec.encode(good)) as? [String: Any])
        tenantless["tenantId"] = nil
        tenantless["marker"] = marker

        let identity = try await harness.withBroker { _ in
            for body in [
                Array("{\"marker\": \"\(marker)\", not json".utf8),
                Array(try JSONSerialization.data(withJSONObject: future)),
                Array(try JSONSerialization.data(withJSONObject: tenantless)),
            ] {
                try await harness.client.publish(
                    exchange: "", routingKey: harness.configuration.queue, body: body,
                    properties: AMQPProperties(replyTo: "amq.rabbitmq.reply-to.nobody", persistent: false))
            }
            // Still answering after the poison messages.
            return try await harness.hostIdentity(tenant: tenant, machine: machine)
        }
        #expect(!identity.hostCertificate.isEmpty)

        var reasons: [String] = []
        let consumer = try await harness.client.consume(queue: copies, prefetch: 100)
        let timer = Task { try await Task.sleep(for: .seconds(15)); await consumer.cancel() }
        for await delivery in consumer {
            try await harness.client.ack(delivery)
            guard delivery.text.contains(marker) else { continue }
            if case .string(let reason) = delivery.properties.headers[Routing.deadLetterReasonHeader] { reasons.append(reason) }
            #expect(delivery.properties.headers[Routing.deadLetterDetailHeader] != nil)
            #expect(delivery.properties.replyTo == nil)
            if reasons.count == 3 { break }
        }
        timer.cancel()
        await consumer.cancel()
        #expect(reasons.sorted() == ["invalid-field", "malformed-json", "unsupported-major-version"])
        #expect(harness.counter(BrokerMetrics.requests, [("command", "other"), ("outcome", "dead-lettered")]) == 3)
        #expect(try await harness.auditEntries(tenant: tenant).count == 1)
    }

    @Test("a command kind the broker does not answer, or one this build does not know, gets an unsupported failure")
    func unsupportedKinds() async throws {
        let harness = try await BrokerHarness.make(name: "unsupported")
        defer { Task { await harness.stop() } }
        let tenant = try harness.newTenant()
        let machine = MachineRef(clusterId: .random(), machineId: .random())
        try await harness.withBroker { _ in
            let states = try await harness.failure(.machineStates(MachineStatesQuery(machines: [machine])), tenant: tenant)
            #expect(states.code == .unsupported)
            #expect(states.message.contains("machine.states"))

            // A kind of a newer 1.x minor: answered (the caller does not wait for a timeout), not dead-lettered.
            let known = CommandEnvelope(
                tenantId: tenant, trace: .newTrace(), payload: .machineStates(MachineStatesQuery(machines: [machine])))
            var newer = try #require(try JSONSerialization.jsonObject(with: MessageCodec.encode(known)) as? [String: Any])
            newer["kind"] = "ssh.revoke"
            newer["schemaVersion"] = "1.9"
            let delivery = try await harness.callRaw(Array(try JSONSerialization.data(withJSONObject: newer)))
            let reply = try MessageCodec.decode(ReplyPayload.self, from: delivery.body)
            #expect(reply.inReplyTo == known.messageId)
            #expect(reply.tenantId == tenant)
            #expect(reply.trace.traceID == known.trace.traceID)
            guard case .failure(let failure) = reply.payload else {
                Issue.record("expected reply.failure, got \(reply.kind.rawValue)")
                return
            }
            #expect(failure.code == .unsupported)
            #expect(failure.message.contains("ssh.revoke"))

            // And the broker still issues.
            _ = try await harness.hostIdentity(tenant: tenant, machine: machine)
        }
        #expect(harness.counter(BrokerMetrics.requests, [("command", "other"), ("outcome", "unsupported")]) == 2)
    }
}
