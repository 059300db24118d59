import Foundation
import MetricsTestKit
import PazAMQP
import PazLocalServers
import PazRedis
import PazSchemas
import PazServiceKit
import PazStatusCollector
import PazStore
import PazTestSupport
import Testing

@Suite("Status collector poller against real Redis and RabbitMQ")
struct PollerTests {
    @Test("One batched machine.states request per tenant and driver; the answers land in Redis with observedAt")
    func batchedPoll() async throws {
        // A long interval: only the round at start-up runs during the test.
        let harness = try await CollectorHarness.make(interval: .seconds(60), timeout: .seconds(3), name: "batch")
        let driver = try ResourceName(unique("drv"))
        let tenant = try await harness.createTenant()
        let machines = try await harness.createCluster(tenant: tenant, driver: driver, count: 3)
        let responder = try await StatesResponder(driver: driver, server: harness.rabbit)
        responder.set(.running, for: machines)
        let serving = Task { try await responder.serve() }

        try await harness.withCollector { _ in
            let polled = try await eventually(timeout: .seconds(10)) {
                let states = try await harness.store.states(tenant: tenant)
                return machines.allSatisfy { states[$0.id]?.state == .running }
            }
            #expect(polled)
            let before = Date()
            let states = try await harness.store.states(tenant: tenant)
            for machine in machines {
                let record = try #require(states[machine.id])
                #expect(record.source == .poll)
                #expect(record.observedAt <= before)
                #expect(record.observedAt > machine.createdAt)
            }
            try await Task.sleep(for: .milliseconds(500))  // room for a second request to show up

            let requests = responder.requests
            #expect(requests.count == 1)
            let request = try #require(requests.first)
            #expect(request.tenantId == tenant)
            guard case .machineStates(let query) = request.payload else {
                Issue.record("expected machine.states, got \(request.kind.rawValue)")
                return
            }
            #expect(Set(query.machines) == Set(machines.map(\.ref)))
            #expect(harness.counter(CollectorMetrics.polls, [("driver", driver.rawValue), ("outcome", "answered")]) == 1)
            #expect(harness.counter(CollectorMetrics.statesWritten, [("source", "poll")]) == 3)
            let durations = try harness.metrics.expectTimer(CollectorMetrics.pollDuration, [("driver", driver.rawValue)])
            #expect(durations.values.count == 1)
            #expect(durations.values.allSatisfy { $0 > 0 && $0 < 3_000_000_000 })
            #expect(await harness.runtime.readiness.evaluate().isReady)
        }
        serving.cancel()
        try await responder.remove()
        await harness.stop()
    }

    @Test("A changed state reaches Redis within one interval and is published as event.machine.state")
    func stateChangeIsPublished() async throws {
        let harness = try await CollectorHarness.make(interval: .seconds(1), timeout: .milliseconds(500), name: "change")
        let driver = try ResourceName(unique("drv"))
        let tenant = try await harness.createTenant()
        let machines = try await harness.createCluster(tenant: tenant, driver: driver, count: 2)
        let responder = try await StatesResponder(driver: driver, server: harness.rabbit)
        responder.set(.running, for: machines)
        let serving = Task { try await responder.serve() }
        let capture = try await EventCapture(server: harness.rabbit)
        let collecting = Task { try await capture.collect() }

        try await harness.withCollector { _ in
            let polled = try await eventually(timeout: .seconds(10)) {
                try await harness.store.states(tenant: tenant).values.filter { $0.state == .running }.count == 2
            }
            #expect(polled)
            // The first poll changed starting → running: an event per machine (at least once: a
            // publish retried after a lost connection may arrive twice).
            #expect(await eventually(timeout: .seconds(5)) {
                let first = capture.changes(tenant: tenant).filter { $0.oldState == .starting && $0.newState == .running }
                return Set(first.map(\.machine)) == Set(machines.map(\.ref))
            })

            let target = machines[0]
            responder.set(.stopped, for: [target])
            let changedAt = ContinuousClock.now
            let changed = try await eventually(timeout: .seconds(3)) {
                try await harness.store.states(tenant: tenant)[target.id]?.state == .stopped
            }
            #expect(changed)
            // One interval (1 s), and a margin for the poll itself on a loaded machine.
        #expect(ContinuousClock.now - changedAt < .milliseconds(2500))
            #expect(await eventually(timeout: .seconds(3)) {
                capture.changes(tenant: tenant).contains {
                    $0.machine == target.ref && $0.oldState == .running && $0.newState == .stopped && $0.source == .poll
                }
            })
            // The other machine did not change, so no event about it followed its first one.
            let other = capture.changes(tenant: tenant).filter { $0.machine == machines[1].ref }
            #expect(!other.isEmpty)
            #expect(other.allSatisfy { $0.oldState == .starting && $0.newState == .running })
        }
        collecting.cancel()
        serving.cancel()
        try await responder.remove()
        await harness.stop()
    }

    @Test("A driver that stops answering, or never had a queue, turns its machines unknown; other drivers are unaffected")
    func silentDriversBecomeUnknown() async throws {
        let harness = try await CollectorHarness.make(interval: .seconds(1), timeout: .milliseconds(500), name: "silent")
        let tenant = try await harness.createTenant()
        let healthy = try ResourceName(unique("drv-ok"))
        let stopping = try ResourceName(unique("drv-stop"))
        let absent = try ResourceName(unique("drv-none"))
        let healthyMachines = try await harness.createCluster(tenant: tenant, driver: healthy, count: 2)
        let stoppingMachines = try await harness.createCluster(tenant: tenant, driver: stopping, count: 2)
        let absentMachines = try await harness.createCluster(tenant: tenant, driver: absent, count: 1)
        let healthyResponder = try await StatesResponder(driver: healthy, server: harness.rabbit)
        healthyResponder.set(.running, for: healthyMachines)
        let stoppingResponder = try await StatesResponder(driver: stopping, server: harness.rabbit)
        stoppingResponder.set(.running, for: stoppingMachines)
        let servingHealthy = Task { try await healthyResponder.serve() }
        let servingStopping = Task { try await stoppingResponder.serve() }
        let probe = try await connect(harness.rabbit, name: "probe")

        try await harness.withCollector { _ in
            func state(_ machine: MachineRecord) async throws -> StateRecord? {
                try await harness.store.states(tenant: tenant)[machine.id]
            }
            let settled = try await eventually(timeout: .seconds(10)) {
                for machine in healthyMachines + stoppingMachines {
                    if try await state(machine)?.state != .running { return false }
                }
                return try await state(absentMachines[0])?.state == .unknown
            }
            #expect(settled)
            // Under load a poll of the absent driver may time out before its request comes back
            // unroutable; a later poll sees it come back.
            #expect(await eventually(timeout: .seconds(10)) {
                harness.counter(CollectorMetrics.polls, [("driver", absent.rawValue), ("outcome", "unroutable")]) >= 1
            })

            // Stop one responder: its queue stays, nobody answers.
            servingStopping.cancel()
            await stoppingResponder.connection.close()
            let stoppedAt = ContinuousClock.now
            let markedUnknown = try await eventually(timeout: .seconds(5)) {
                for machine in stoppingMachines {
                    if try await state(machine)?.state != .unknown { return false }
                }
                return true
            }
            #expect(markedUnknown)
            // Within one interval plus the timeout (and a scheduling margin for a loaded 2-core machine).
            #expect(ContinuousClock.now - stoppedAt < .milliseconds(3500))
            #expect(harness.counter(CollectorMetrics.pollTimeouts, [("driver", stopping.rawValue)]) >= 1)

            let before = try await state(healthyMachines[0])
            try await Task.sleep(for: .seconds(2))
            for machine in healthyMachines {
                let record = try await state(machine)
                #expect(record?.state == .running)
            }
            // …and still fresh: observed again since.
            #expect(try await state(healthyMachines[0])?.observedAt ?? .distantPast > before?.observedAt ?? .distantFuture)

            // Requests nobody took expire in the queue instead of piling up.
            let queued = try await probe.queueStatus(Routing.driverCommandQueue(driver: stopping))
            #expect((queued?.messageCount ?? 0) <= 2)
        }
        servingHealthy.cancel()
        try await healthyResponder.remove()
        try await probe.deleteQueue(Routing.driverCommandQueue(driver: stopping))
        await probe.close()
        await harness.stop()
    }

    @Test("Graceful shutdown stops the poll timer: no request after the service group returned")
    func shutdownStopsTimer() async throws {
        let harness = try await CollectorHarness.make(interval: .seconds(1), timeout: .milliseconds(500), name: "stop")
        let driver = try ResourceName(unique("drv"))
        let tenant = try await harness.createTenant()
        let machines = try await harness.createCluster(tenant: tenant, driver: driver, count: 1)
        let responder = try await StatesResponder(driver: driver, server: harness.rabbit)
        responder.set(.running, for: machines)
        let serving = Task { try await responder.serve() }

        let started = ContinuousClock.now
        try await harness.withCollector { _ in
            #expect(await eventually(timeout: .seconds(10)) { responder.requests.count >= 2 })
        }
        let shutdownTook = ContinuousClock.now - started
        let count = responder.requests.count
        try await Task.sleep(for: .seconds(3))
        #expect(responder.requests.count == count)
        #expect(shutdownTook < .seconds(10))
        #expect(!(await harness.runtime.readiness.evaluate().isReady))
        serving.cancel()
        try await responder.remove()
        await harness.stop()
    }
}
