import Foundation
import PazAMQP
import PazRedis
import PazSchemas
import PazStore
import Testing

/// `ssh.authorizeSenders`: the broker answers by the sender's AMQP `user-id` (which RabbitMQ
/// verifies), not by the tenant the message names. Requests come from the per-service users of
/// ``PazTestSupport/TestServiceUsers`` on the shared RabbitMQ.
@Suite("SSH broker: who may ask")
struct AuthorizationTests {
    /// A machine of `tenant` using `driver` that is being created (no details yet) or, with
    /// `created`, one whose create finished.
    func seed(_ harness: BrokerHarness, tenant: TenantID, driver: ResourceName, created: Bool = false) async throws -> MachineRecord {
        let clusterId = ClusterID.random()
        let id = MachineID.random()
        let details = created
            ? MachineDetails(
                machine: MachineRef(clusterId: clusterId, machineId: id), state: .running, observedAt: Date(),
                addresses: [MachineAddress(address: "127.0.0.1", scope: .public)],
                ssh: SSHEndpoint(host: "127.0.0.1", port: 40122, user: "paz"))
            : nil
        // Machine names are unique per tenant: each seeded machine gets its own.
        let name = try ResourceName("web-\(id.rawValue.suffix(8).lowercased())")
        let record = MachineRecord(id: id, name: name, clusterId: clusterId, driver: driver, details: details)
        try await harness.store.addMachines([record], tenant: tenant, initialState: created ? .running : .starting)
        return record
    }

    func hostRequest(_ machine: MachineRecord) -> CommandPayload {
        .sshHostIdentity(HostIdentityRequest(machine: machine.ref, principals: ["127.0.0.1"]))
    }

    @Test("user certificates go to the gateway and to a machine's own driver only; refusals are permission-denied and audited without key material")
    func userCredentialsOnlyForTheGatewayAndTheMachinesDriver() async throws {
        let harness = try await BrokerHarness.make(name: "authz-user", authorizeSenders: true)
        let gateway = try await harness.connect(as: .gateway)
        let driver = try await harness.connect(as: .driver("generic"))
        let otherDriver = try await harness.connect(as: .driver("qemu"))
        let tenant = try harness.newTenant()
        let machine = try await harness.seedMachine(tenant: tenant)  // a machine of the generic driver
        try await harness.withBroker { _ in
            let request = CommandPayload.sshUserCredentials(harness.userRequest(machine.ref))
            for (sender, who) in [(gateway, "the gateway"), (driver, "the machine's own driver")] {
                let reply = try await harness.call(request, tenant: tenant, via: sender)
                guard case .sshUserCredentials = reply.reply.payload else {
                    Issue.record("\(who) was refused: \(reply.reply.payload)")
                    return
                }
            }
            for (sender, reason) in [(otherDriver, "only for machines of its own"), (harness.client, "only the gateway")] {
                let failure = try await harness.failure(request, tenant: tenant, via: sender)
                #expect(failure.code == .permissionDenied)
                #expect(failure.message.contains(reason), "\(failure.message)")
                #expect(!failure.retriable)
            }
        }
        let entries = try await harness.auditEntries(tenant: tenant)
        #expect(entries.count == 4)
        let refused = entries.filter { $0.fields["outcome"] == "refused" }
        #expect(refused.map { $0.fields["sender"] } == ["paz-driver-qemu", "guest"])
        #expect(refused.allSatisfy { $0.fields["kind"] == "ssh.user-credentials" && $0.fields["machine"] == machine.id.rawValue })
        #expect(refused.allSatisfy { $0.fields["serial"] == nil && $0.fields["fingerprint"] == nil })
        #expect(harness.log.text.contains("Refused a request its sender may not make"))
        #expect(!harness.log.text.contains("PRIVATE KEY"))
        #expect(harness.counter("paz_ssh_broker_requests_total", [("command", "ssh.user-credentials"), ("outcome", "denied")]) == 2)
        await otherDriver.close()
        await gateway.close()
        await driver.close()
        await harness.stop()
    }

    @Test("a driver gets host identities only for its own machines of the named tenant that are being created")
    func hostIdentityOnlyForTheDriversMachinesBeingCreated() async throws {
        let harness = try await BrokerHarness.make(name: "authz-host", authorizeSenders: true)
        let generic = try await harness.connect(as: .driver("generic"))
        let qemu = try await harness.connect(as: .driver("qemu"))
        let gateway = try await harness.connect(as: .gateway)
        let tenant = try harness.newTenant()
        let other = try harness.newTenant()
        let creating = try await seed(harness, tenant: tenant, driver: "generic")
        let created = try await seed(harness, tenant: tenant, driver: "generic", created: true)
        let othersMachine = try await seed(harness, tenant: other, driver: "generic")
        try await harness.withBroker { _ in
            let reply = try await harness.call(hostRequest(creating), tenant: tenant, via: generic)
            guard case .sshHostIdentity(let identity) = reply.reply.payload else {
                Issue.record("the generic driver was refused: \(reply.reply.payload)")
                return
            }
            #expect(identity.hostCertificate.contains("cert-v01@openssh.com"))

            let refusals: [(CommandPayload, TenantID, AMQPConnection, String)] = [
                (hostRequest(creating), tenant, qemu, "another driver's machine"),
                (hostRequest(othersMachine), tenant, generic, "another tenant's machine, named under this tenant"),
                (hostRequest(creating), other, generic, "this tenant's machine, named under another tenant"),
                (hostRequest(created), tenant, generic, "a machine whose create finished"),
                (hostRequest(creating), tenant, gateway, "the gateway"),
                (hostRequest(creating), tenant, harness.client, "a user of no service kind"),
            ]
            for (request, named, sender, what) in refusals {
                let failure = try await harness.failure(request, tenant: named, via: sender)
                #expect(failure.code == .permissionDenied, "\(what)")
            }
        }
        let refused = try await harness.auditEntries(tenant: tenant).filter { $0.fields["outcome"] == "refused" }
        #expect(refused.count == 5)
        #expect(refused.allSatisfy { $0.fields["kind"] == "ssh.host-identity" && ($0.fields["reason"]?.isEmpty == false) })
        #expect(harness.counter("paz_ssh_broker_requests_total", [("command", "ssh.host-identity"), ("outcome", "issued")]) == 1)
        #expect(harness.counter("paz_ssh_broker_requests_total", [("command", "ssh.host-identity"), ("outcome", "denied")]) == 6)
        for connection in [generic, qemu, gateway] { await connection.close() }
        await harness.stop()
    }
}
