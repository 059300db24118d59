import Foundation
import Logging
import PazOpenSSH
import PazRedis
import PazSchemas
import PazSecrets
import PazSSHBroker
import PazStore
import Testing

@Suite("SSH broker: per-tenant certificate authorities")
struct AuthorityTests {
    @Test("two tenants get different CAs; one tenant keeps its CAs across broker restarts")
    func perTenantAndAcrossRestarts() async throws {
        let harness = try await BrokerHarness.make(name: "ca-restart")
        defer { Task { await harness.stop() } }
        let first = try harness.newTenant()
        let second = try harness.newTenant()
        let machine = MachineRef(clusterId: .random(), machineId: .random())
        let (a, b) = try await harness.withBroker { _ in
            (try await harness.hostIdentity(tenant: first, machine: machine),
             try await harness.hostIdentity(tenant: second, machine: machine))
        }
        #expect(a.hostCAPublicKey != b.hostCAPublicKey)
        #expect(a.userCAPublicKey != b.userCAPublicKey)
        #expect(Set([a.hostCAPublicKey, a.userCAPublicKey, b.hostCAPublicKey, b.userCAPublicKey]).count == 4)

        // A new broker instance (nothing in memory) finds the same CAs in Redis.
        let again = try await harness.withBroker { _ in try await harness.hostIdentity(tenant: first, machine: machine) }
        #expect(again.hostCAPublicKey == a.hostCAPublicKey)
        #expect(again.userCAPublicKey == a.userCAPublicKey)
        #expect(again.hostCertificate != a.hostCertificate)
        #expect(harness.counter(BrokerMetrics.authoritiesCreated) == 2)

        // The record: sealed private keys that open only with the master key and this key as context,
        // and the public lines in clear.
        let key = StoreKeys.sshCertificateAuthorities(first)
        let record = try await harness.redis.hgetall(key)
        #expect(record["user.pub"] == a.userCAPublicKey)
        #expect(record["host.pub"] == a.hostCAPublicKey)
        #expect(record["createdAt"].flatMap(Timestamp.parse) != nil)
        let sealed = try #require(record["sealed"])
        #expect(sealed.hasPrefix("v1:"))
        let box = SecretBox(masterKey: harness.masterKey)
        #expect(throws: SecretError.self) { try box.open(sealed, context: StoreKeys.sshCertificateAuthorities(second)) }
        let other = SecretBox(masterKey: try MasterKey(bytes: Array(repeating: 1, count: 32)))
        #expect(throws: SecretError.self) { try other.open(sealed, context: key) }
        #expect(try box.openText(sealed, context: key).contains("OPENSSH PRIVATE KEY"))
    }

    @Test("replicas racing to create a tenant's CAs all end up with the winner's (HSETNX, then read back)")
    func creationIsRaceFree() async throws {
        let harness = try await BrokerHarness.make(name: "ca-race")
        defer { Task { await harness.stop() } }
        let redis = harness.redis
        let box = SecretBox(masterKey: harness.masterKey)
        for _ in 0..<5 {
            let tenant = try harness.newTenant()
            // Eight independent instances (as eight replicas would be), all asking at once.
            let instances = (0..<8).map { _ in
                CertificateAuthorities(redis: redis, secretBox: box, metrics: BrokerMetrics(factory: harness.metrics),
                                       logger: Logger(label: "test.ca-race"))
            }
            let lines = try await withThrowingTaskGroup(of: String.self) { group in
                for instance in instances {
                    group.addTask {
                        let authorities = try await instance.authorities(for: tenant)
                        return authorities.userPublicKeyLine + "|" + authorities.hostPublicKeyLine
                    }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(lines.count == 1)
            let record = try await redis.hgetall(StoreKeys.sshCertificateAuthorities(tenant))
            #expect(lines.first == "\(record["user.pub"] ?? "")|\(record["host.pub"] ?? "")")
        }
        #expect(harness.counter(BrokerMetrics.authoritiesCreated) == 5)
    }

    @Test("two brokers on one queue answer a new tenant's concurrent requests with one pair of CAs")
    func competingReplicas() async throws {
        let harness = try await BrokerHarness.make(name: "replicas")
        defer { Task { await harness.stop() } }
        let tenant = try harness.newTenant()
        let identities = try await harness.withBroker { _ in
            try await harness.withBroker { _ in
                try await withThrowingTaskGroup(of: HostIdentity.self) { group in
                    for index in 0..<16 {
                        group.addTask {
                            try await harness.hostIdentity(
                                tenant: tenant, machine: MachineRef(clusterId: "cls-race", machineId: try MachineID("m-\(index)")))
                        }
                    }
                    return try await group.reduce(into: [HostIdentity]()) { $0.append($1) }
                }
            }
        }
        #expect(identities.count == 16)
        #expect(Set(identities.map(\.hostCAPublicKey)).count == 1)
        #expect(Set(identities.map(\.userCAPublicKey)).count == 1)
        #expect(Set(identities.map(\.hostCertificate)).count == 16)
        #expect(harness.counter(BrokerMetrics.authoritiesCreated) == 1)
        #expect(try await harness.auditEntries(tenant: tenant).count == 16)
    }
}
