import Foundation
import Logging
import PazSchemas
import PazServiceKit
import PazStatusCollector
import PazStore
import ServiceLifecycle
import Testing

@Suite("Status collector replicas: one poller at a time")
struct PollerLeaseTests {
    /// A collector replica named `instance` on the harness's Redis and broker, running until shut down.
    private struct Replica {
        let group: ServiceGroup
        let task: Task<Void, any Error>

        init(_ harness: CollectorHarness, instance: String) {
            var configuration = harness.configuration
            configuration.instanceId = instance
            configuration.eventsQueue = unique("paz.collector.events.test")
            let runtime = ServiceRuntime(
                configuration: ServiceKitConfiguration(serviceName: "status-collector-\(instance)", opsPort: 0),
                logger: Logger(label: "test.collector.\(instance)"))
            let collector = buildStatusCollectorServices(configuration: configuration, runtime: runtime, metricsFactory: harness.metrics)
            let group = buildServiceGroup(runtime, services: collector.services)
            self.group = group
            task = Task { try await group.run() }
        }

        func stop() async {
            await group.triggerGracefulShutdown()
            _ = try? await task.value
        }
    }

    @Test("two replicas: the machines are polled once per interval, not twice; when the poller stops, the other takes over")
    func oneReplicaPolls() async throws {
        let interval = Duration.milliseconds(400)
        let harness = try await CollectorHarness.make(interval: interval, timeout: .milliseconds(300), name: "lease")
        let driver = try ResourceName(unique("drv"))
        let tenant = try await harness.createTenant()
        let machines = try await harness.createCluster(tenant: tenant, driver: driver, count: 2)
        let responder = try await StatesResponder(driver: driver, server: harness.rabbit)
        responder.set(.running, for: machines)
        let serving = Task { try await responder.serve() }

        let first = Replica(harness, instance: "collector-a")
        let second = Replica(harness, instance: "collector-b")
        #expect(await eventually(timeout: .seconds(10)) { responder.requests.count >= 1 })
        let started = ContinuousClock.now
        let before = responder.requests.count
        try await Task.sleep(for: interval * 10)
        let polls = responder.requests.count - before
        let rounds = (ContinuousClock.now - started) / interval
        // One replica polls: about one request per round; two pollers would make about twice as many.
        #expect(polls >= Int(rounds) - 3 && polls <= Int(rounds) + 2, "\(polls) polls in \(rounds) rounds")

        let holder = try #require(try await harness.store.pollerLeaseHolder())
        let (poller, standby) = holder == "collector-a" ? (first, second) : (second, first)
        #expect(["collector-a", "collector-b"].contains(holder))
        await poller.stop()  // releases the lease (the standby may have taken it at once)
        #expect(try await harness.store.pollerLeaseHolder() != holder)
        let afterStop = responder.requests.count
        // The standby tries once per interval: it polls again within about two.
        #expect(await eventually(timeout: interval * 4) { responder.requests.count > afterStop })
        #expect(try await harness.store.pollerLeaseHolder() == (holder == "collector-a" ? "collector-b" : "collector-a"))

        await standby.stop()
        serving.cancel()
        try await responder.remove()
        await harness.stop()
    }

    @Test("the lease: held and renewed by its holder, refused to another, free again after release or expiry")
    func leaseRules() async throws {
        let harness = try await CollectorHarness.make(interval: .seconds(60), timeout: .seconds(3), name: "lease-rules")
        let store = harness.store
        #expect(try await store.holdPollerLease(instance: "a", ttl: .seconds(30)))
        #expect(try await store.holdPollerLease(instance: "a", ttl: .seconds(30)))
        #expect(try await !store.holdPollerLease(instance: "b", ttl: .seconds(30)))
        try await store.releasePollerLease(instance: "b")  // not b's: nothing happens
        #expect(try await store.pollerLeaseHolder() == "a")
        try await store.releasePollerLease(instance: "a")
        #expect(try await store.holdPollerLease(instance: "b", ttl: .milliseconds(300)))
        try await Task.sleep(for: .milliseconds(600))
        #expect(try await store.pollerLeaseHolder() == nil)
        #expect(try await store.holdPollerLease(instance: "a", ttl: .seconds(1)))
        await harness.stop()
    }
}
