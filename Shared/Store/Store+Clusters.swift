import Foundation
package import PazSchemas
import PazRedis

extension Store {
    /// Records a new cluster with its machines, each starting in `initialState`. Fails with
    /// ``StoreError/conflict(_:)`` when the tenant already has a cluster of that name.
    package func createCluster(
        _ cluster: ClusterRecord, machines: [MachineRecord], tenant: TenantID, initialState: MachineState = .starting
    ) async throws(StoreError) {
        let claimed = try await run { () async throws(RedisError) in
            try await redis.command([
                "HSETNX", RedisArgument(StoreKeys.clusterNames(tenant)), RedisArgument(cluster.name.rawValue),
                RedisArgument(cluster.id.rawValue),
            ]).integer == 1
        }
        guard claimed else { throw .conflict("a cluster named \(cluster.name) exists already") }
        try await saveCluster(cluster, tenant: tenant)
        try await addMachines(machines, tenant: tenant, initialState: initialState)
    }

    /// Records machines (new ones start in `initialState`, observed now by an operation).
    package func addMachines(
        _ machines: [MachineRecord], tenant: TenantID, initialState: MachineState = .starting
    ) async throws(StoreError) {
        guard !machines.isEmpty else { return }
        var commands: [[RedisArgument]] = []
        for machine in machines {
            commands.append(["HSET", RedisArgument(StoreKeys.machines(tenant)), RedisArgument(machine.id.rawValue),
                             RedisArgument(try encode(machine))])
            let state = StateRecord(state: initialState, observedAt: Date(), source: .operation)
            commands.append(["HSET", RedisArgument(StoreKeys.states(tenant)), RedisArgument(machine.id.rawValue),
                             RedisArgument(try encode(state))])
        }
        try await pipelineChecked(commands)
    }

    /// Overwrites a cluster's record.
    package func saveCluster(_ cluster: ClusterRecord, tenant: TenantID) async throws(StoreError) {
        let json = try encode(cluster)
        _ = try await run { () async throws(RedisError) in
            try await redis.hset(StoreKeys.clusters(tenant), fields: [cluster.id.rawValue: RedisArgument(json)])
        }
    }

    /// Overwrites a machine's record (only while the machine exists: a removed machine stays removed).
    package func saveMachine(_ machine: MachineRecord, tenant: TenantID) async throws(StoreError) {
        let json = try encode(machine)
        _ = try await run { () async throws(RedisError) in
            try await redis.evaluate(
                Self.saveIfPresent, keys: [RedisArgument(StoreKeys.machines(tenant))],
                arguments: [RedisArgument(machine.id.rawValue), RedisArgument(json)])
        }
    }

    /// The tenant's cluster with this id or name, or nil.
    package func cluster(_ idOrName: String, tenant: TenantID) async throws(StoreError) -> ClusterRecord? {
        var id = idOrName
        if !idOrName.hasPrefix("\(IdentifierTag.Cluster.prefix)_") {
            guard let found = try await run({ () async throws(RedisError) in
                try await redis.hget(StoreKeys.clusterNames(tenant), field: idOrName)
            }) else { return nil }
            id = found
        }
        guard let json = try await run({ () async throws(RedisError) in
            try await redis.hget(StoreKeys.clusters(tenant), field: id)
        }) else { return nil }
        return try decode(ClusterRecord.self, from: json, key: StoreKeys.clusters(tenant))
    }

    /// Every cluster of the tenant, oldest first.
    package func clusters(tenant: TenantID) async throws(StoreError) -> [ClusterRecord] {
        let key = StoreKeys.clusters(tenant)
        let hash = try await run { () async throws(RedisError) in try await redis.hgetall(key) }
        return try decodeAll(ClusterRecord.self, from: hash, key: key, cache: clusterCache).sorted { $0.createdAt < $1.createdAt }
    }

    /// The tenant's machine with this id, or nil.
    package func machine(_ id: MachineID, tenant: TenantID) async throws(StoreError) -> MachineRecord? {
        let key = StoreKeys.machines(tenant)
        guard let json = try await run({ () async throws(RedisError) in try await redis.hget(key, field: id.rawValue) })
        else { return nil }
        return try decode(MachineRecord.self, from: json, key: key)
    }

    /// Every machine of the tenant, oldest first.
    package func machines(tenant: TenantID) async throws(StoreError) -> [MachineRecord] {
        let key = StoreKeys.machines(tenant)
        let hash = try await run { () async throws(RedisError) in try await redis.hgetall(key) }
        return try decodeAll(MachineRecord.self, from: hash, key: key, cache: machineCache).sorted {
            ($0.createdAt, $0.name.rawValue) < ($1.createdAt, $1.name.rawValue)
        }
    }

    /// Forgets a machine: its record, state, secrets, driver data and journal, and its place in
    /// the cluster's list.
    package func removeMachine(_ machine: MachineRecord, tenant: TenantID) async throws(StoreError) {
        // The record goes first: the state compare-and-set refuses machines without one.
        var commands: [[RedisArgument]] = [
            ["HDEL", RedisArgument(StoreKeys.machines(tenant)), RedisArgument(machine.id.rawValue)],
            ["HDEL", RedisArgument(StoreKeys.states(tenant)), RedisArgument(machine.id.rawValue)],
        ]
        commands.append(["DEL"] + StoreKeys.machineKeys(tenant, machine.id).map { RedisArgument($0) })
        try await pipelineChecked(commands)
        if var cluster = try await cluster(machine.clusterId.rawValue, tenant: tenant) {
            cluster.machineIds.removeAll { $0 == machine.id }
            try await saveCluster(cluster, tenant: tenant)
        }
    }

    /// Forgets a cluster's record and name (its machines are removed one by one before).
    package func removeCluster(_ cluster: ClusterRecord, tenant: TenantID) async throws(StoreError) {
        try await pipelineChecked([
            ["HDEL", RedisArgument(StoreKeys.clusters(tenant)), RedisArgument(cluster.id.rawValue)],
            ["HDEL", RedisArgument(StoreKeys.clusterNames(tenant)), RedisArgument(cluster.name.rawValue)],
        ])
    }

    /// Runs commands in one round trip and throws the first error reply.
    func pipelineChecked(_ commands: [[RedisArgument]]) async throws(StoreError) {
        let replies = try await run { () async throws(RedisError) in try await redis.pipeline(commands) }
        if let message = replies.lazy.compactMap(\.errorMessage).first { throw .redis(.server(message)) }
    }

    /// HSET KEYS[1] ARGV[1] ARGV[2] only if the field exists.
    static let saveIfPresent = RedisScript("""
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
          return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        end
        return -1
        """)
}
