import Foundation
import Logging
import PazAMQP
import PazDriverKit
import PazSchemas
import PazStore
import PazTestSupport
import Synchronization
import Testing

/// The driver kit's consumer loop against the shared RabbitMQ and Redis, with an in-memory driver.
@Suite(.timeLimit(.minutes(2))) struct DriverServiceTests {
    @Test func createYieldsRunningAndSucceededEventsAndIsAcked() async throws {
        let harness = try await Harness.start()
        let create = sampleCreate(driver: harness.driver.name)
        try await harness.send(harness.command(.machineCreate(create)))
        let events = try await harness.events { count($0, phase: .succeeded) >= 1 }
        try await harness.shutdown()
        // Unacked commands would be back in the queue once its consumer is gone; the broker counts the
        // cancelled consumer out a moment after the cancel.
        var status = try #require(try await harness.connection.queueStatus(harness.queueName))
        let deadline = ContinuousClock.now + .seconds(10)
        while status.consumerCount > 0 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            status = try #require(try await harness.connection.queueStatus(harness.queueName))
        }
        #expect(status.messageCount == 0 && status.consumerCount == 0)
        try await harness.stop()

        #expect(count(events, phase: .running) >= 1)
        let state = try #require(events.compactMap(\.stateChange).first)
        #expect(state.newState == .running && state.source == .operation && state.machine == create.machine)
        let succeeded = try #require(events.compactMap(\.operationProgress).first { $0.phase == .succeeded })
        #expect(succeeded.command == "machine.create")
        #expect(succeeded.machines.first?.details?.addresses.first?.address == "127.0.0.9")
        #expect(harness.driver.count("create") == 1)
        let journal = try await DriverContextProbe.journal(harness, machine: create.machineId)
        #expect(journal.values.map(\.status) == [.succeeded])
    }

    @Test func redeliveredCreateDoesNotCreateTwice() async throws {
        let harness = try await Harness.start(prefetch: 1)
        let command = harness.command(.machineCreate(sampleCreate(driver: harness.driver.name)))
        try await harness.send(command)
        try await harness.send(command)  // the same operation and machine again, as after a lost ack
        let events = try await harness.events { count($0, phase: .succeeded) >= 2 }
        try await harness.stop()

        #expect(count(events, phase: .succeeded) == 2)
        #expect(harness.driver.count("create") == 1)
        #expect(harness.driver.count("create-twice") == 0)
    }

    @Test func poisonMessagesAreDeadLetteredWithAReasonAndTheConsumerKeepsWorking() async throws {
        let harness = try await Harness.start()
        let marker = "poison-\(UUID().uuidString)"
        let malformed = Array("{\"marker\": \"\(marker)\", not json".utf8)
        var future = try JSONSerialization.jsonObject(with: MessageCodec.encode(harness.command(.machineCreate(
            sampleCreate(driver: harness.driver.name))))) as! [String: Any]
        future["schemaVersion"] = "2.0"
        future["marker"] = marker
        try await harness.sendRaw(malformed)
        try await harness.sendRaw(Array(try JSONSerialization.data(withJSONObject: future)))
        // The consumer is still alive: a good command after the poison ones succeeds.
        try await harness.send(harness.command(.machineCreate(sampleCreate(driver: harness.driver.name))))
        let events = try await harness.events { count($0, phase: .succeeded) >= 1 }
        #expect(count(events, phase: .succeeded) == 1)

        var reasons: [String] = []
        for delivery in try await harness.deadLettered(marker: marker, count: 2) {
            if case .string(let reason) = delivery.properties.headers[Routing.deadLetterReasonHeader] { reasons.append(reason) }
            #expect(delivery.properties.headers[Routing.deadLetterDetailHeader] != nil)
        }
        try await harness.stop()
        #expect(reasons.sorted() == ["malformed-json", "unsupported-major-version"])
    }

    @Test func statesRPCAnswersForManyMachinesInOneDriverCall() async throws {
        let harness = try await Harness.start()
        let cluster = ClusterID.random()
        let known = (0..<3).map { _ in MachineID.random() }
        for machine in known {
            harness.driver.machines.withLock { $0[machine] = .running }
        }
        let refs = (known + (0..<47).map { _ in MachineID.random() }).map { MachineRef(clusterId: cluster, machineId: $0) }
        let query = harness.command(.machineStates(MachineStatesQuery(machines: refs)), operation: nil)
        let reply = try await harness.connection.call(
            exchange: Routing.commandsExchange, routingKey: harness.driver.name.rawValue,
            body: try MessageCodec.encodeBody(query), properties: AMQPProperties(type: query.kind.rawValue),
            timeout: .seconds(10))
        try await harness.stop()

        let envelope = try MessageCodec.decode(ReplyPayload.self, from: Data(reply.body))
        #expect(envelope.inReplyTo == query.messageId)
        guard case .states(let states) = envelope.payload else {
            Issue.record("expected reply.states, got \(envelope.kind)")
            return
        }
        #expect(states.states.count == 50)
        #expect(states.states.filter { $0.state == .running }.map(\.machine) == Array(refs.prefix(3)))
        #expect(states.states.filter { $0.state == .notFound }.count == 47)
        #expect(harness.driver.count("states") == 1)
    }

    @Test func unsupportedOperationFailsWithAClearMessageAndIsAcked() async throws {
        let harness = try await Harness.start()
        let machine = MachineRef(clusterId: .random(), machineId: .random())
        try await harness.send(harness.command(.machineStart(MachineAction(machine: machine))))
        let events = try await harness.events { count($0, phase: .failed) >= 1 }
        try await harness.stop()
        let failed = try #require(events.compactMap(\.operationProgress).first { $0.phase == .failed })
        #expect(failed.error?.code == .unsupported)
        #expect(failed.error?.message.contains("cannot start machines") == true)
    }

    @Test func retriableFailuresAreRetriedUpToTheDeliveryLimitThenReported() async throws {
        let harness = try await Harness.start()
        let machine = MachineRef(clusterId: .random(), machineId: .random())
        try await harness.send(harness.command(.machineRestart(MachineAction(machine: machine))))
        // Five attempts 1, 2, 5 and 10 s apart: 18 s of delays alone, more on a loaded machine.
        let events = try await harness.events(timeout: .seconds(75)) { count($0, phase: .failed) >= 1 }
        try await harness.shutdown()
        let status = try #require(try await harness.connection.queueStatus(harness.queueName))
        try await harness.stop()
        let failed = try #require(events.compactMap(\.operationProgress).first { $0.phase == .failed })
        #expect(failed.error?.code == .providerUnavailable && failed.error?.retriable == true)
        #expect(harness.driver.count("restart") == Routing.deliveryLimit)
        #expect(status.messageCount == 0)
    }

    @Test func heartbeatAppearsInTheRegistryAndIsWithdrawnOnShutdown() async throws {
        let harness = try await Harness.start()
        var found: DriverAnnouncement?
        for _ in 0..<100 where found == nil {  // the first heartbeat runs concurrently with the consumer's start
            found = try await harness.store.liveDrivers().first { $0.name == harness.driver.name }
            if found == nil { try await Task.sleep(for: .milliseconds(50)) }
        }
        let entry = try #require(found)
        #expect(entry.instanceId == harness.configuration.instanceId)
        #expect(entry.version == "9.9.9" && entry.ttlSeconds == 3)
        #expect(entry.createOptions.map(\.name.rawValue) == ["flavour"])
        try await harness.stop()
        let after = try await harness.store.liveDrivers()
        #expect(!after.contains { $0.name == harness.driver.name })
    }
}

/// Reads the journal the kit wrote.
enum DriverContextProbe {
    static func journal(_ harness: Harness, machine: MachineID) async throws -> [String: JournalEntry] {
        let context = DriverContext(tenant: harness.tenant, operationId: nil, logger: .init(label: "probe"), store: harness.store)
        return try await context.journal.entries(machine: machine)
    }
}
