import Foundation
import PazAMQP
import PazControlPlane
import PazLocalServers
import PazRedis
import PazSchemas
import PazServiceKit
import PazStatusCollector
import PazStore
import PazTestSupport
import Synchronization
import Testing

@Suite("Status collector event applier against real Redis and RabbitMQ")
struct EventApplierTests {
    /// Publishes a state event for `tenant` to `paz.events`, as a driver does after an operation.
    func publish(
        _ connection: AMQPConnection, tenant: TenantID, machine: MachineRef, state: MachineState, observedAt: Date,
        source: MachineStateChanged.Source = .operation
    ) async throws {
        let event = EventEnvelope(
            tenantId: tenant, trace: .newTrace(),
            payload: .machineState(MachineStateChanged(
                machine: machine, oldState: nil, newState: state, observedAt: observedAt, source: source)))
        // As a driver publishes it (a nacked message is published again).
        try await ConfirmedPublisher(amqp: connection).publish(.event(event))
    }

    @Test("A poll's own change event is acknowledged without a second write")
    func ownPollEventsAreNotAppliedAgain() async throws {
        let harness = try await CollectorHarness.make(interval: .seconds(60), timeout: .seconds(1), name: "echo")
        let tenant = try await harness.createTenant()
        let driver = try ResourceName(unique("drv-none"))
        let machine = try #require(try await harness.createCluster(tenant: tenant, driver: driver, count: 1).first)
        let publisher = try await connect(harness.rabbit, name: "echo-publisher")
        try await harness.withCollector { _ in
            #expect(try await eventually(timeout: .seconds(10)) {
                try await harness.store.states(tenant: tenant)[machine.id]?.state == .unknown
            })
            let before = try #require(try await harness.store.states(tenant: tenant)[machine.id])
            // Newer than the stored state: applied, it would win; as a poll's echo it is skipped.
            try await publish(
                publisher, tenant: tenant, machine: machine.ref, state: .running, observedAt: Date().addingTimeInterval(5),
                source: .poll)
            #expect(await eventually(timeout: .seconds(5)) {
                harness.counter(CollectorMetrics.events, [("result", "own-poll")]) >= 1
            })
            let after = try #require(try await harness.store.states(tenant: tenant)[machine.id])
            #expect(after == before)
            #expect(harness.counter(CollectorMetrics.events, [("result", "stale")]) == 0)
            #expect(harness.counter(CollectorMetrics.events, [("result", "applied")]) == 0)
        }
        await publisher.close()
        await harness.stop()
    }

    @Test("Events are applied by compare-and-set: an older observation never overwrites a newer one")
    func olderObservationLoses() async throws {
        // No driver answers this tenant's machines and the interval is long: the start-up round marks
        // them unknown once, then only events write.
        let harness = try await CollectorHarness.make(interval: .seconds(60), timeout: .seconds(1), name: "cas")
        let tenant = try await harness.createTenant()
        let driver = try ResourceName(unique("drv-none"))
        let machine = try #require(try await harness.createCluster(tenant: tenant, driver: driver, count: 1).first)
        let publisher = try await connect(harness.rabbit, name: "event-publisher")

        try await harness.withCollector { _ in
            let polled = try await eventually(timeout: .seconds(10)) {
                try await harness.store.states(tenant: tenant)[machine.id]?.state == .unknown
            }
            #expect(polled)
            let polledAt = try #require(try await harness.store.states(tenant: tenant)[machine.id]).observedAt
            let older = polledAt.addingTimeInterval(0.001)
            let newer = polledAt.addingTimeInterval(0.002)

            try await publish(publisher, tenant: tenant, machine: machine.ref, state: .stopped, observedAt: newer)
            let newerApplied = try await eventually(timeout: .seconds(5)) {
                try await harness.store.states(tenant: tenant)[machine.id]?.state == .stopped
            }
            #expect(newerApplied)
            try await publish(publisher, tenant: tenant, machine: machine.ref, state: .running, observedAt: older)
            #expect(await eventually(timeout: .seconds(5)) {
                harness.counter(CollectorMetrics.events, [("result", "stale")]) >= 1
            })
            let record = try #require(try await harness.store.states(tenant: tenant)[machine.id])
            #expect(record.state == .stopped)
            #expect(abs(record.observedAt.timeIntervalSince(newer)) < 0.0005)
            #expect(record.source == .operation)
        }
        await publisher.close()
        await harness.stop()
    }

    @Test("An event for a removed or unknown machine creates no keys")
    func unknownMachinesStayUnknown() async throws {
        let harness = try await CollectorHarness.make(interval: .seconds(60), timeout: .seconds(1), name: "gone")
        let tenant = try await harness.createTenant()
        let driver = try ResourceName(unique("drv-none"))
        let machines = try await harness.createCluster(tenant: tenant, driver: driver, count: 2)
        let (removed, kept) = (machines[0], machines[1])
        let stranger = TenantID.random()
        let publisher = try await connect(harness.rabbit, name: "event-publisher")

        try await harness.withCollector { _ in
            let polled = try await eventually(timeout: .seconds(10)) {
                try await harness.store.states(tenant: tenant)[kept.id]?.state == .unknown
            }
            #expect(polled)
            try await harness.store.removeMachine(removed, tenant: tenant)
            let later = Date().addingTimeInterval(1)
            try await publish(publisher, tenant: tenant, machine: removed.ref, state: .running, observedAt: later)
            try await publish(publisher, tenant: stranger, machine: removed.ref, state: .running, observedAt: later)
            // Events are applied in order: once this marker is in, the two before it were handled.
            try await publish(publisher, tenant: tenant, machine: kept.ref, state: .running, observedAt: later)
            let markerApplied = try await eventually(timeout: .seconds(5)) {
                try await harness.store.states(tenant: tenant)[kept.id]?.state == .running
            }
            #expect(markerApplied)
            let states = try await harness.store.states(tenant: tenant)
            #expect(states[removed.id] == nil)
            #expect(try await harness.redis.scanKeys(matching: StoreKeys.tenantPrefix(stranger) + "*").isEmpty)
            #expect(harness.counter(CollectorMetrics.events, [("result", "unknown-machine")]) >= 2)
        }
        await publisher.close()
        await harness.stop()
    }

    @Test("An unreadable event is dead-lettered with the reason headers and acked")
    func poisonIsDeadLettered() async throws {
        let harness = try await CollectorHarness.make(interval: .seconds(60), timeout: .seconds(1), name: "poison")
        let observer = try await connect(harness.rabbit, name: "dead-letter-observer")
        // A queue of our own on the dead-letter fanout sees a copy of every dead letter.
        let copies = unique("test.dead-letters")
        try await observer.declare(AMQPExchange(name: Routing.deadLetterExchange, kind: .fanout))
        try await observer.declare(AMQPQueue(name: copies, durable: false, autoDelete: true))
        try await observer.bind(AMQPBinding(queue: copies, exchange: Routing.deadLetterExchange, routingKey: ""))
        let seen = Mutex<[AMQPDelivery]>([])
        let consumer = try await observer.consume(queue: copies, prefetch: 16)
        let watching = Task {
            for await delivery in consumer {
                seen.withLock { $0.append(delivery) }
                try await observer.ack(delivery)
            }
        }
        let messageID = unique("poison")

        try await harness.withCollector { _ in
            let consuming = try await eventually(timeout: .seconds(10)) {
                try await observer.queueStatus(harness.configuration.eventsQueue)?.consumerCount == 1
            }
            #expect(consuming)
            try await observer.publish(
                exchange: "", routingKey: harness.configuration.eventsQueue, body: Array(#"{"schemaVersion": "2.0"}"#.utf8),
                properties: AMQPProperties(messageID: messageID, contentType: Routing.contentType))
            #expect(await eventually(timeout: .seconds(5)) {
                seen.withLock { $0.contains { $0.properties.messageID == messageID } }
            })
            let letter = try #require(seen.withLock { $0.first { $0.properties.messageID == messageID } })
            #expect(letter.properties.headers[Routing.deadLetterReasonHeader] == .string("unsupported-major-version"))
            #expect(letter.properties.headers[Routing.deadLetterDetailHeader] != nil)
            #expect(letter.text == #"{"schemaVersion": "2.0"}"#)
            // Acked: nothing of it is left in the collector's queue.
            let drained = try await eventually(timeout: .seconds(5)) {
                try await observer.queueStatus(harness.configuration.eventsQueue)?.messageCount == 0
            }
            #expect(drained)
            #expect(harness.counter(CollectorMetrics.events, [("result", "dead-lettered")]) == 1)
        }
        watching.cancel()
        await observer.close()
        await harness.stop()
    }

    @Test("Readiness follows Redis: not ready while it is down")
    func readinessFollowsRedis() async throws {
        let harness = try await CollectorHarness.make(interval: .seconds(60), timeout: .seconds(1), name: "ready")
        try await harness.withCollector { _ in
            #expect(await eventually(timeout: .seconds(10)) { await harness.runtime.readiness.evaluate().isReady })
            await harness.redisServer.stop()
            #expect(await eventually(timeout: .seconds(5)) {
                await harness.runtime.readiness.evaluate().failing == ["redis"]
            })
        }
        await harness.stop()
    }
}
