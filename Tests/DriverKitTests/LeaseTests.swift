import Foundation
import Logging
import PazAMQP
import PazControlPlane
import PazDriverKit
import PazRedis
import PazSchemas
import PazStore
import PazTestSupport
import Synchronization
import Testing

/// Per-machine leases and the query queue, against the shared RabbitMQ and Redis.
@Suite(.timeLimit(.minutes(3))) struct LeaseTests {
    @Test("Commands for one machine never run at once: a remove sent during a slow create waits for it")
    func oneCommandPerMachine() async throws {
        let harness = try await Harness.start(prefetch: 8)
        harness.driver.createDelays.withLock { $0 = [.seconds(3)] }
        let create = sampleCreate(driver: harness.driver.name)
        try await harness.send(harness.command(.machineCreate(create)))
        // The remove is sent once the create runs (a fixed sleep lost this race on a loaded machine).
        let started = ContinuousClock.now + .seconds(20)
        while harness.driver.count("create") == 0, ContinuousClock.now < started {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(harness.driver.count("create") == 1)
        try await harness.send(harness.command(.machineRemove(MachineAction(machine: create.machine))))
        let events = try await harness.events(timeout: .seconds(30)) { count($0, phase: .succeeded) >= 2 }
        try await harness.stop()

        #expect(harness.driver.mostConcurrentOnOneMachine == 1)
        let done = events.compactMap(\.operationProgress).filter { $0.phase == .succeeded }.map(\.command)
        #expect(done == ["machine.create", "machine.remove"])
        #expect(harness.driver.count("remove") == 1)
    }

    @Test("A command whose lease is taken over is cancelled, records nothing, and is run again later")
    func lostLeaseCancelsTheCommand() async throws {
        let harness = try await Harness.start(leaseTTL: .seconds(3))
        // Far longer than the renewal that must cancel it, however slowly a loaded machine runs.
        harness.driver.createDelays.withLock { $0 = [.seconds(90)] }
        let create = sampleCreate(driver: harness.driver.name)
        try await harness.send(harness.command(.machineCreate(create)))
        let key = StoreKeys.lease(harness.tenant, create.machineId)
        let redis = harness.store.redis
        // Wait until the driver's create runs (under the lease), then let another owner take the lease
        // (as after an expiry). Waiting only for the lease lost a race on a loaded machine: the
        // intruder came while the command was still journaling and announcing its start, so that run
        // stopped before the driver's create and the retry consumed the long delay uncancelled.
        let deadline = ContinuousClock.now + .seconds(30)
        while harness.driver.count("create") == 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        try #require(harness.driver.count("create") == 1)
        let holder = try #require(try await redis.command("GET", RedisArgument(key)).string)
        #expect(holder.hasSuffix(":" + harness.configuration.instanceId))
        try await redis.command("SET", RedisArgument(key), "999999999:intruder", "PX", "4000")

        // The create is cancelled at its next renewal (every second), and nothing is journaled.
        let cancelledBy = ContinuousClock.now + .seconds(60)
        while harness.driver.count("create-cancelled") == 0, ContinuousClock.now < cancelledBy {
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(harness.driver.count("create-cancelled") == 1)
        let journal = try await DriverContextProbe.journal(harness, machine: create.machineId)
        #expect(journal.values.allSatisfy { $0.status == .started })

        // Once the intruder's lease has expired, the retried create runs to the end.
        let events = try await harness.events(timeout: .seconds(60)) { count($0, phase: .succeeded) >= 1 }
        try await harness.stop()
        #expect(count(events, phase: .succeeded) == 1)
        #expect(count(events, phase: .failed) == 0)
        #expect(harness.driver.count("create") == 2)
        #expect(try await redis.command("GET", RedisArgument(key)).string == nil)
    }

    @Test("Queries have their own queue: with every command slot busy, a state poll is answered at once")
    func queriesApartFromCommands() async throws {
        let harness = try await Harness.start(prefetch: 2)
        harness.driver.createDelays.withLock { $0 = [.seconds(8), .seconds(8), .seconds(8)] }
        let creates = (0..<3).map { _ in sampleCreate(driver: harness.driver.name) }
        for create in creates { try await harness.send(harness.command(.machineCreate(create))) }
        // Both command slots busy (a fixed sleep lost this race on a loaded machine).
        let busy = ContinuousClock.now + .seconds(30)
        while harness.driver.count("create") < 2, ContinuousClock.now < busy {
            try await Task.sleep(for: .milliseconds(20))
        }

        let started = ContinuousClock.now
        let reply = try await RPCClient(amqp: harness.connection).call(
            harness.command(.machineStates(MachineStatesQuery(machines: creates.map(\.machine))), operation: nil),
            exchange: Routing.commandsExchange, routingKey: Routing.queryRoutingKey(driver: harness.driver.name),
            timeout: .seconds(5))
        let took = ContinuousClock.now - started
        guard case .states(let states) = reply.payload else {
            Issue.record("expected states, got \(reply.kind)")
            return
        }
        #expect(states.states.count == 3)
        #expect(took < .seconds(4), "the poll waited \(took) behind the creates")
        #expect(harness.driver.count("create") == 2)  // the third create still waits for a command slot
        try await harness.stop()
    }
}
