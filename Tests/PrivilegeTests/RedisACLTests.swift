import Foundation
import PazLocalServers
import PazRedis
import PazSchemas
import PazSecrets
import PazStore
import PazTestSupport
import Testing

/// The Redis ACL of each service kind (``StoreACL``), on a redis-server of this suite's own whose
/// `default` user has a password: each kind does its own work through the real ``Store`` code
/// (Lua scripts included) and gets NOPERM for anything else.
@Suite("Redis ACL per service kind")
struct RedisACLTests {
    static func isNoPermission(_ error: any Error) -> Bool {
        switch error {
        case let error as RedisError: error.serverErrorCode == "NOPERM"
        case let error as StoreError:
            if case .redis(let redis) = error { redis.serverErrorCode == "NOPERM" } else { false }
        default: false
        }
    }

    @Test("each kind does its own work; drivers cannot read tokens, CA keys or another driver's registry")
    func ownWorkOnly() async throws {
        let users = TestServiceUsers()
        let admin = UUID().uuidString
        let server = try await RedisServer.start(options: .init(
            appendOnly: false, password: admin,
            users: TestServiceUsers.kinds.map { kind in
                RedisServer.User(name: kind.userName, password: users.password(kind), rules: StoreACL.rules(for: kind))
            }))
        TestRedis.register(server)
        defer { Task { await server.stop() } }
        let box = SecretBox(masterKey: try MasterKey(bytes: Array(repeating: 7, count: 32)))
        func store(_ kind: ServiceKind) -> Store {
            let redis = RedisClient(configuration: RedisConfiguration(
                host: server.host, port: server.port, username: kind.userName, password: users.password(kind)))
            // The gateway reads tokens through a tracking cache: SUBSCRIBE and CLIENT TRACKING must be allowed.
            return Store(redis: redis, secretBox: box, tracking: kind == .gateway ? RedisTrackingCache(client: redis) : nil)
        }
        let gateway = store(.gateway)
        defer { Task { await gateway.tracking?.close() } }
        let collector = store(.statusCollector)
        let broker = store(.sshBroker)
        let generic = store(.driver("generic"))

        // The default user needs its password; a wrong service password is refused.
        let anonymous = RedisClient(configuration: RedisConfiguration(host: server.host, port: server.port))
        await #expect(throws: RedisError.self) { _ = try await anonymous.command("GET", "paz:tokens") }
        let wrong = RedisClient(configuration: RedisConfiguration(
            host: server.host, port: server.port, username: "paz-driver-generic", password: "wrong"))
        await #expect(performing: { _ = try await wrong.command("PING") }, throws: { error in
            if case .authenticationFailed(let address, _) = error as? RedisError { return address.hasPrefix("paz-driver-generic@") }
            return false
        })

        // Gateway: tenants, tokens, clusters, machines (Lua), operations, idempotency, sealed secrets.
        let tenant = TenantRecord(name: try ResourceName("acl-\(UUID().uuidString.prefix(6).lowercased())"))
        try await gateway.createTenant(tenant)
        let (token, _) = try await gateway.createToken(for: tenant.id, name: "ci")
        #expect(try await gateway.authenticate(presented: token)?.record.tenantId == tenant.id)
        #expect(try await gateway.authenticate(presented: token, reading: .status)?.record.tenantId == tenant.id)
        #expect(try await gateway.countRequests(tenant: tenant.id, second: 1, count: 3) == 3)
        var cluster = ClusterRecord(name: "web", driver: "generic")
        var machine = MachineRecord(name: "web-0", clusterId: cluster.id, driver: "generic")
        cluster.machineIds = [machine.id]
        try await gateway.createCluster(cluster, machines: [machine], tenant: tenant.id)
        machine.options = ["ip-address": .string("127.0.0.1")]
        try await gateway.saveMachine(machine, tenant: tenant.id)
        let operation = OperationRecord(
            kind: "cluster.create", target: OperationTarget(type: .cluster, id: cluster.id.rawValue, name: "web", clusterId: cluster.id),
            machines: [machine.ref])
        try await gateway.createOperation(operation, tenant: tenant.id)
        #expect(try await gateway.operation(operation.id, tenant: tenant.id) != nil)
        #expect(try await gateway.claimIdempotencyKey(
            "key-1", record: IdempotencyRecord(requestHash: "h", operationId: operation.id), in: .tenant(tenant.id)) == nil)
        try await gateway.putSecrets(["password": "s3cret"], tenant: tenant.id, machine: machine.id)
        #expect(try await gateway.statusSnapshot(tenant: tenant.id).machines.map(\.id) == [machine.id])

        // Driver: its registry entry, the machine's secrets (read), driver data and journal.
        try await generic.announce(DriverAnnouncement(
            name: "generic", version: "1.0.0", instanceId: "test-1", capabilities: [.create], createOptions: [],
            ttlSeconds: 60, startedAt: Date()))
        #expect(try await gateway.liveDrivers().map(\.name) == ["generic"])
        // The index is shared by every driver, but a member forged for another driver has no entry.
        _ = try await generic.redis.command(["ZADD", RedisArgument(StoreKeys.registryIndex), "99999999999999", "qemu:forged"])
        #expect(try await gateway.liveDrivers().map(\.name) == ["generic"])
        #expect(try await generic.secrets(tenant: tenant.id, machine: machine.id) == ["password": "s3cret"])
        _ = try await generic.redis.set(StoreKeys.driverData(tenant.id, machine.id), RedisArgument("{}"))
        _ = try await generic.redis.hset(StoreKeys.journal(tenant.id, machine.id), fields: ["create": RedisArgument("done")])
        #expect(try await generic.redis.hgetall(StoreKeys.journal(tenant.id, machine.id)) == ["create": "done"])

        // Driver: no tokens, tenants, machine records, CA keys, audit, other drivers' entries, no writes to secrets.
        let forbidden: [[RedisArgument]] = [
            ["HGETALL", RedisArgument(StoreKeys.tokens)],
            ["HGET", RedisArgument(StoreKeys.tokens), RedisArgument(token)],
            ["HGETALL", RedisArgument(StoreKeys.tenants)],
            ["HGETALL", RedisArgument(StoreKeys.sshCertificateAuthorities(tenant.id))],
            ["HGETALL", RedisArgument(StoreKeys.machines(tenant.id))],
            ["XADD", RedisArgument(StoreKeys.sshAudit(tenant.id)), "*", "kind", "forged"],
            ["SET", RedisArgument(StoreKeys.registry(driver: "qemu", instance: "forged")), "{}"],
            ["SET", RedisArgument(StoreKeys.secrets(tenant.id, machine.id)), "forged"],
            ["KEYS", "*"],
            ["FLUSHALL"],
        ]
        for command in forbidden {
            await #expect(performing: { _ = try await generic.redis.command(command) }, throws: { Self.isNoPermission($0) })
        }

        // Collector: tenants and machines (read), states through the compare-and-set script.
        #expect(try await collector.tenants().contains { $0.id == tenant.id })
        #expect(try await collector.machines(tenant: tenant.id).map(\.id) == [machine.id])
        let state = StateRecord(state: .running, observedAt: Date().addingTimeInterval(1), source: .poll)
        #expect(try await collector.writeState(state, machine: machine.id, tenant: tenant.id) == .written(previous: .starting))
        let notForCollector: [[RedisArgument]] = [
            ["HGETALL", RedisArgument(StoreKeys.tokens)], ["HSET", RedisArgument(StoreKeys.tenants), "x", "y"],
            ["GET", RedisArgument(StoreKeys.secrets(tenant.id, machine.id))],
        ]
        for command in notForCollector {
            await #expect(performing: { _ = try await collector.redis.command(command) }, throws: { Self.isNoPermission($0) })
        }

        // Broker: machine records (read), the tenant's CA record and audit stream.
        #expect(try await broker.machine(machine.id, tenant: tenant.id)?.id == machine.id)
        _ = try await broker.redis.command(["HSETNX", RedisArgument(StoreKeys.sshCertificateAuthorities(tenant.id)), "sealed", "x"])
        _ = try await broker.redis.xadd(StoreKeys.sshAudit(tenant.id), fields: ["kind": "test"], maxLength: 10)
        await #expect(performing: { _ = try await broker.redis.hgetall(StoreKeys.tokens) }, throws: { Self.isNoPermission($0) })

        // Gateway: no CA keys, no audit writes, no reading of driver data or sealed secrets.
        let notForGateway: [[RedisArgument]] = [
            ["HGETALL", RedisArgument(StoreKeys.sshCertificateAuthorities(tenant.id))],
            ["GET", RedisArgument(StoreKeys.driverData(tenant.id, machine.id))],
            ["GET", RedisArgument(StoreKeys.secrets(tenant.id, machine.id))],
        ]
        for command in notForGateway {
            await #expect(performing: { _ = try await gateway.redis.command(command) }, throws: { Self.isNoPermission($0) })
        }
        // …but removing a machine deletes its driver data and journal.
        try await gateway.removeMachine(machine, tenant: tenant.id)
        #expect(try await generic.redis.getString(StoreKeys.driverData(tenant.id, machine.id)) == nil)

        for client in [gateway, collector, broker, generic] { await client.redis.close() }
        await anonymous.close()
        await wrong.close()
    }
}
