import Foundation
import PazAMQP
import PazSchemas
import PazServiceKit
import PazSSHBroker
import ServiceLifecycle
import Testing

@Suite("SSH broker: graceful shutdown")
struct ShutdownTests {
    @Test("shutdown stops consuming and answers what is in flight; the rest waits in the queue for the next replica")
    func inFlightRequestsAreAnswered() async throws {
        let harness = try await BrokerHarness.make(name: "shutdown")
        defer { Task { await harness.stop() } }
        let tenant = try harness.newTenant()
        let requests = 200

        // The requests wait in the queue before the broker starts, so shutdown finds work in flight
        // and work not yet delivered.
        try await BrokerConnections.declareTopology(queue: harness.configuration.queue, on: harness.client)
        let calls = Task {
            try await withThrowingTaskGroup(of: HostIdentity.self) { group in
                for index in 0..<requests {
                    group.addTask {
                        try await harness.hostIdentity(
                            tenant: tenant,
                            machine: MachineRef(clusterId: "cls-shutdown", machineId: try MachineID("m-\(index)")))
                    }
                }
                return try await group.reduce(into: [HostIdentity]()) { $0.append($1) }
            }
        }
        #expect(await eventually(timeout: .seconds(15)) {
            (try? await harness.client.queueStatus(harness.configuration.queue))??.messageCount ?? 0 >= requests
        })

        let runtime = harness.makeRuntime()
        let broker = try buildSSHBrokerServices(
            configuration: harness.configuration, runtime: runtime, masterKey: harness.masterKey,
            metricsFactory: harness.metrics)
        let group = buildServiceGroup(runtime, services: broker.services)
        let running = Task { try await group.run() }
        // Shut down while requests are being handled.
        #expect(await eventually(timeout: .seconds(15)) { (try? await harness.auditEntries(tenant: tenant).count) ?? 0 >= 1 })
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(!broker.consumer.isConsuming)
        let answeredByFirst = try await harness.auditEntries(tenant: tenant).count
        #expect(answeredByFirst >= 1)
        #expect(await runtime.readiness.evaluate().isReady == false)

        // A second replica takes what the first left in the queue; every caller gets its answer once.
        let identities = try await harness.withBroker { _ in try await calls.value }
        #expect(Set(identities.map(\.hostCertificate)).count == requests)
        #expect(identities.count == requests)
        #expect(try await harness.auditEntries(tenant: tenant).count == requests)
    }
}
