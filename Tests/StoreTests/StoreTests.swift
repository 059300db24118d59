import Foundation
import PazLocalServers
import PazRedis
import PazSchemas
import PazSecrets
import PazStore
import PazTestSupport
import Testing

/// The store against a real redis-server; every test uses tenants of its own.
@Suite struct StoreTests {
    private func makeStore() async throws -> Store {
        let server = try await TestRedis.shared()
        let redis = RedisClient(configuration: RedisConfiguration(host: server.host, port: server.port))
        let box = SecretBox(masterKey: try MasterKey(bytes: Array(repeating: 3, count: 32)))
        return Store(redis: redis, secretBox: box)
    }

    private func makeTenant(_ store: Store) async throws -> TenantRecord {
        let tenant = TenantRecord(name: try ResourceName("t-\(ULID.make().suffix(10).lowercased())"))
        try await store.createTenant(tenant)
        return tenant
    }

    private func makeCluster(_ store: Store, tenant: TenantID, machines count: Int, name: String = "web")
        async throws -> (ClusterRecord, [MachineRecord])
    {
        var cluster = ClusterRecord(name: try ResourceName(name), driver: "generic")
        let machines = try (0..<count).map { index in
            MachineRecord(name: try ResourceName("\(name)-\(index)"), clusterId: cluster.id, driver: "generic")
        }
        cluster.machineIds = machines.map(\.id)
        try await store.createCluster(cluster, machines: machines, tenant: tenant)
        return (cluster, machines)
    }

    @Test func tenantNamesAreUniqueAndTokensAreFoundByValueOnly() async throws {
        let store = try await makeStore()
        let tenant = try await makeTenant(store)
        await #expect(throws: StoreError.self) { try await store.createTenant(TenantRecord(name: tenant.name)) }
        let (token, record) = try await store.createToken(for: tenant.id, name: "ci")
        #expect(try await store.authenticate(presented: token)?.record.tenantId == tenant.id)
        #expect(try await store.authenticate(presented: token + "x") == nil)
        let stored = try await store.redis.hgetall(StoreKeys.tokens)
        #expect(!stored.keys.contains(token) && !stored.values.contains { $0.contains(token) })
        #expect(try await store.revokeToken(record.id, tenant: tenant.id))
        #expect(try await store.authenticate(presented: token) == nil)
    }

    @Test func clustersAreFoundByIdOrNameOnlyByTheirTenant() async throws {
        let store = try await makeStore()
        let owner = try await makeTenant(store)
        let other = try await makeTenant(store)
        let (cluster, machines) = try await makeCluster(store, tenant: owner.id, machines: 3)
        #expect(try await store.cluster("web", tenant: owner.id)?.id == cluster.id)
        #expect(try await store.cluster(cluster.id.rawValue, tenant: owner.id)?.machineIds.count == 3)
        #expect(try await store.cluster("web", tenant: other.id) == nil)
        #expect(try await store.cluster(cluster.id.rawValue, tenant: other.id) == nil)
        #expect(try await store.machine(machines[0].id, tenant: other.id) == nil)
        await #expect(throws: StoreError.self) {
            try await store.createCluster(ClusterRecord(name: cluster.name, driver: "generic"), machines: [], tenant: owner.id)
        }
        let snapshot = try await store.statusSnapshot(tenant: owner.id)
        #expect(snapshot.machines.map(\.id) == machines.map(\.id))
        #expect(snapshot.states.values.allSatisfy { $0.state == .starting })
        #expect(try await store.statusSnapshot(tenant: other.id).machines.isEmpty)
    }

    @Test func stateCompareAndSetKeepsTheNewestObservation() async throws {
        let store = try await makeStore()
        let tenant = try await makeTenant(store)
        let (_, machines) = try await makeCluster(store, tenant: tenant.id, machines: 1)
        let machine = machines[0].id
        let now = Date()
        let newer = StateRecord(state: .running, observedAt: now.addingTimeInterval(5), source: .poll)
        let older = StateRecord(state: .stopped, observedAt: now.addingTimeInterval(2), source: .poll)
        #expect(try await store.writeState(newer, machine: machine, tenant: tenant.id) == .written(previous: .starting))
        #expect(try await store.writeState(older, machine: machine, tenant: tenant.id) == .stale)
        #expect(try await store.states(tenant: tenant.id)[machine]?.state == .running)
        let unknown = MachineID.random()
        #expect(try await store.writeState(newer, machine: unknown, tenant: tenant.id) == .unknownMachine)
    }

    @Test func removingAMachineLeavesNoKeyBehindAndCannotBeUndoneByALatePoll() async throws {
        let store = try await makeStore()
        let tenant = try await makeTenant(store)
        let (cluster, machines) = try await makeCluster(store, tenant: tenant.id, machines: 2)
        try await store.putSecrets(["ssh-key": "PRIVATE"], tenant: tenant.id, machine: machines[0].id)
        #expect(try await store.secrets(tenant: tenant.id, machine: machines[0].id) == ["ssh-key": "PRIVATE"])
        let raw = try await store.redis.getString(StoreKeys.secrets(tenant.id, machines[0].id))
        #expect(raw?.contains("PRIVATE") == false)
        for machine in machines { try await store.removeMachine(machine, tenant: tenant.id) }
        try await store.removeCluster(cluster, tenant: tenant.id)
        let late = StateRecord(state: .running, observedAt: Date().addingTimeInterval(60), source: .poll)
        #expect(try await store.writeState(late, machine: machines[0].id, tenant: tenant.id) == .unknownMachine)
        var leftovers: [String] = []
        for key in try await store.redis.scanKeys(matching: StoreKeys.tenantPrefix(tenant.id) + "*") {
            let fields = (try? await store.redis.hgetall(key)) ?? [:]
            if fields.keys.contains(where: { $0.contains(cluster.id.rawValue) || machines.map(\.id.rawValue).contains($0) })
                || key.contains(cluster.id.rawValue) || machines.contains(where: { key.contains($0.id.rawValue) })
            {
                leftovers.append(key)
            }
        }
        #expect(leftovers.isEmpty)
        #expect(try await store.cluster("web", tenant: tenant.id) == nil)
    }

    @Test func operationPhaseIsDerivedFromPerMachineProgress() async throws {
        let store = try await makeStore()
        let tenant = try await makeTenant(store)
        let (cluster, machines) = try await makeCluster(store, tenant: tenant.id, machines: 2)
        let target = OperationTarget(type: .cluster, id: cluster.id.rawValue, name: "web", clusterId: cluster.id)
        let operation = OperationRecord(kind: "cluster.create", target: target, machines: machines.map(\.ref))
        try await store.createOperation(operation, tenant: tenant.id)
        #expect(try await store.operation(operation.id, tenant: tenant.id)?.phase == .accepted)
        try await store.recordProgress(
            MachineProgress(machine: machines[0].ref, phase: .succeeded), operation: operation.id, tenant: tenant.id)
        #expect(try await store.operation(operation.id, tenant: tenant.id)?.phase == .running)
        // A redelivered `running` must not undo a finished machine.
        try await store.recordProgress(
            MachineProgress(machine: machines[0].ref, phase: .running), operation: operation.id, tenant: tenant.id)
        try await store.recordProgress(
            MachineProgress(machine: machines[1].ref, phase: .succeeded), operation: operation.id, tenant: tenant.id)
        let view = try #require(try await store.operation(operation.id, tenant: tenant.id))
        #expect(view.phase == .succeeded)
        #expect(view.progress.map(\.phase) == [.succeeded, .succeeded])
        let other = try await makeTenant(store)
        #expect(try await store.operation(operation.id, tenant: other.id) == nil)
    }

    @Test func idempotencyKeysAreClaimedOnce() async throws {
        let store = try await makeStore()
        let tenant = try await makeTenant(store)
        let first = IdempotencyRecord(requestHash: "h1", operationId: .random())
        #expect(try await store.claimIdempotencyKey("k-1", record: first, in: .tenant(tenant.id)) == nil)
        let second = IdempotencyRecord(requestHash: "h2", operationId: .random())
        #expect(try await store.claimIdempotencyKey("k-1", record: second, in: .tenant(tenant.id)) == first)
    }

    @Test func aTenantHoldsABoundedNumberOfIdempotencyKeys() async throws {
        let store = try await makeStore()
        let tenant = try await makeTenant(store)
        for index in 0..<3 {
            let record = IdempotencyRecord(requestHash: "h\(index)", operationId: .random())
            #expect(try await store.claimIdempotencyKey("k-\(index)", record: record, in: .tenant(tenant.id), limit: 3) == nil)
        }
        let fourth = IdempotencyRecord(requestHash: "h4", operationId: .random())
        await #expect(throws: StoreError.self) {
            try await store.claimIdempotencyKey("k-4", record: fourth, in: .tenant(tenant.id), limit: 3)
        }
        // A known key still answers with its record, and a released key frees its place.
        #expect(try await store.claimIdempotencyKey("k-0", record: fourth, in: .tenant(tenant.id), limit: 3)?.requestHash == "h0")
        try await store.releaseIdempotencyKey("k-1", in: .tenant(tenant.id))
        #expect(try await store.claimIdempotencyKey("k-4", record: fourth, in: .tenant(tenant.id), limit: 3) == nil)
    }

    @Test func driverDefaultsKeepSecretsSealed() async throws {
        let store = try await makeStore()
        let tenant = try await makeTenant(store)
        let driver = ResourceName("qemu")
        #expect(try await store.driverDefaults(tenant: tenant.id, driver: driver) == nil)
        let record = try await store.setDriverDefaults(
            plain: ["accel": .string("tcg")], secrets: ["api-key": "TOPSECRET"], tenant: tenant.id, driver: driver)
        #expect(record.secretOptionNames == ["api-key"])
        let raw = try await store.redis.getString(StoreKeys.driverDefaults(tenant.id, driver: driver))
        #expect(raw?.contains("TOPSECRET") == false)
        let stored = try #require(try await store.driverDefaults(tenant: tenant.id, driver: driver))
        #expect(try store.openSecrets(of: stored, tenant: tenant.id, driver: driver) == ["api-key": "TOPSECRET"])
        #expect(stored.options == ["accel": .string("tcg")])
        // Sealed for this tenant and driver: moved under another tenant it does not open.
        let other = try await makeTenant(store)
        #expect(throws: StoreError.self) { try store.openSecrets(of: stored, tenant: other.id, driver: driver) }
        try await store.deleteDriverDefaults(tenant: tenant.id, driver: driver)
        #expect(try await store.driverDefaults(tenant: tenant.id, driver: driver) == nil)
    }

    @Test func registryListsOnlyLiveDrivers() async throws {
        let store = try await makeStore()
        let name = try ResourceName("drv-\(ULID.make().suffix(8).lowercased())")
        let announcement = DriverAnnouncement(
            name: name, version: "1.0.0", instanceId: "i-1", schemaVersion: .current, capabilities: [],
            createOptions: [], ttlSeconds: 15, startedAt: Date())
        try await store.announce(announcement)
        // A TTL with room for a loaded machine (the whole suite runs in parallel on 2 cores).
        #expect(try await store.liveDrivers().contains { $0.name == name })
        try await Task.sleep(for: .milliseconds(15_500))
        #expect(try await !store.liveDrivers().contains { $0.name == name })
    }
}
