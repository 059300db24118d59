import Foundation
package import PazSchemas
import PazRedis

extension Store {
    /// Records a new cluster with its machines, each starting in `initialState`, in one atomic step.
    /// Fails with ``StoreError/conflict(_:)`` when the tenant already has a cluster or machine of one
    /// of these names; with `enforceQuota`, also with ``StoreError/notFound(_:)`` when the tenant is
    /// gone and ``StoreError/quotaExceeded(have:quota:adding:)`` when the machines would not fit.
    package func createCluster(
        _ cluster: ClusterRecord, machines: [MachineRecord], tenant: TenantID, initialState: MachineState = .starting,
        enforceQuota: Bool = false
    ) async throws(StoreError) {
        try await record(machines, cluster: .new(cluster), tenant: tenant, initialState: initialState, enforceQuota: enforceQuota)
    }

    /// Records machines (new ones start in `initialState`, observed now by an operation), claiming
    /// their names atomically (``StoreError/conflict(_:)`` for a taken one).
    package func addMachines(
        _ machines: [MachineRecord], tenant: TenantID, initialState: MachineState = .starting
    ) async throws(StoreError) {
        guard !machines.isEmpty else { return }
        try await record(machines, cluster: .none, tenant: tenant, initialState: initialState, enforceQuota: false)
    }

    /// Adds one machine to an existing cluster atomically: quota, name claim, machine record and the
    /// cluster's machine list (re-read and retried when another request changed the cluster meanwhile).
    package func addMachine(
        _ machine: MachineRecord, to clusterId: ClusterID, tenant: TenantID, initialState: MachineState = .starting
    ) async throws(StoreError) {
        for _ in 0..<20 {
            let key = StoreKeys.clusters(tenant)
            guard let json = try await run({ () async throws(RedisError) in try await redis.hget(key, field: clusterId.rawValue) })
            else { throw .notFound("cluster \(clusterId) was removed") }
            var updated = try decode(ClusterRecord.self, from: json, key: key)
            updated.machineIds.append(machine.id)
            do {
                try await record(
                    [machine], cluster: .existing(updated, expected: json), tenant: tenant,
                    initialState: initialState, enforceQuota: true)
                return
            } catch .clusterChanged {
                continue
            }
        }
        throw .conflict("cluster \(clusterId) changes too often right now; retry")
    }

    private enum ClusterWrite {
        case new(ClusterRecord)
        /// Overwrite the record only if it is still `expected` (its JSON as read).
        case existing(ClusterRecord, expected: String)
        case none
    }

    /// The one path that records machines: runs ``recordMachinesScript``.
    private func record(
        _ machines: [MachineRecord], cluster: ClusterWrite, tenant: TenantID, initialState: MachineState,
        enforceQuota: Bool
    ) async throws(StoreError) {
        let keys = [
            StoreKeys.tenants, StoreKeys.clusterNames(tenant), StoreKeys.clusters(tenant), StoreKeys.machines(tenant),
            StoreKeys.states(tenant), StoreKeys.machineNames(tenant), StoreKeys.statusVersion(tenant),
        ].map { RedisArgument($0) }
        var arguments: [RedisArgument] = [RedisArgument(tenant.rawValue), enforceQuota ? "1" : "0"]
        switch cluster {
        case .new(let record):
            arguments += ["new", RedisArgument(record.id.rawValue), RedisArgument(record.name.rawValue),
                          RedisArgument(try encode(record)), ""]
        case .existing(let record, let expected):
            arguments += ["existing", RedisArgument(record.id.rawValue), RedisArgument(record.name.rawValue),
                          RedisArgument(try encode(record)), RedisArgument(expected)]
        case .none:
            arguments += ["none", "", "", "", ""]
        }
        arguments.append(RedisArgument(Self.newStatusVersion()))
        let state = try encode(StateRecord(state: initialState, observedAt: Date(), source: .operation))
        for machine in machines {
            arguments += [RedisArgument(machine.id.rawValue), RedisArgument(machine.name.rawValue),
                          RedisArgument(try encode(machine)), RedisArgument(state)]
        }
        let reply = try await run { () async throws(RedisError) in
            try await redis.evaluate(Self.recordMachinesScript, keys: keys, arguments: arguments)
        }
        let fields = reply.array?.compactMap(\.string) ?? []
        switch fields.first {
        case "ok": return
        case "no-tenant": throw .notFound("tenant \(tenant) no longer exists")
        case "no-cluster": throw .notFound("the cluster was removed")
        case "cluster-changed": throw .clusterChanged
        case "quota":
            throw .quotaExceeded(have: Int(fields[1]) ?? 0, quota: Int(fields[2]) ?? 0, adding: machines.count)
        case "cluster-name": throw .conflict("a cluster named \(fields[1]) exists already")
        case "machine-name": throw .conflict("a machine named \(fields[1]) exists already")
        default: throw .corrupt(key: StoreKeys.machines(tenant), reason: "unexpected reply \(reply) from the record script")
        }
    }

    /// Quota check, name claims and writes of a create, all or nothing.
    /// KEYS: tenants, cluster-names, clusters, machines, states, machine-names, status version.
    /// ARGV: tenant id, enforce quota (1/0), cluster mode (new/existing/none), cluster id, name, JSON,
    /// expected JSON (existing), new status version, then per machine: id, name, JSON, state JSON.
    static let recordMachinesScript = RedisScript("""
        local mode = ARGV[3]
        local first = 9
        local count = (#ARGV - first + 1) / 4
        -- machine-names is kept from the machines hash when it is missing or out of step (older data).
        if redis.call('HLEN', KEYS[6]) ~= redis.call('HLEN', KEYS[4]) then
          redis.call('DEL', KEYS[6])
          local all = redis.call('HGETALL', KEYS[4])
          for i = 1, #all, 2 do redis.call('HSET', KEYS[6], cjson.decode(all[i + 1])['name'], all[i]) end
        end
        if ARGV[2] == '1' then
          local tenant = redis.call('HGET', KEYS[1], ARGV[1])
          if not tenant then return {'no-tenant'} end
          local quota = tonumber(cjson.decode(tenant)['machineQuota'])
          local have = redis.call('HLEN', KEYS[4])
          if have + count > quota then return {'quota', tostring(have), tostring(quota)} end
        end
        if mode == 'new' then
          if redis.call('HEXISTS', KEYS[2], ARGV[5]) == 1 then return {'cluster-name', ARGV[5]} end
        elseif mode == 'existing' then
          local current = redis.call('HGET', KEYS[3], ARGV[4])
          if not current then return {'no-cluster'} end
          if current ~= ARGV[7] then return {'cluster-changed'} end
        end
        local seen = {}
        for i = 0, count - 1 do
          local name = ARGV[first + i * 4 + 1]
          if seen[name] or redis.call('HEXISTS', KEYS[6], name) == 1 then return {'machine-name', name} end
          seen[name] = true
        end
        if mode == 'new' then redis.call('HSET', KEYS[2], ARGV[5], ARGV[4]) end
        if mode ~= 'none' then redis.call('HSET', KEYS[3], ARGV[4], ARGV[6]) end
        for i = 0, count - 1 do
          local base = first + i * 4
          redis.call('HSET', KEYS[4], ARGV[base], ARGV[base + 2])
          redis.call('HSET', KEYS[5], ARGV[base], ARGV[base + 3])
          redis.call('HSET', KEYS[6], ARGV[base + 1], ARGV[base])
        end
        redis.call('SET', KEYS[7], ARGV[8])
        return {'ok'}
        """)

    /// Overwrites a cluster's record.
    package func saveCluster(_ cluster: ClusterRecord, tenant: TenantID) async throws(StoreError) {
        let json = try encode(cluster)
        try await pipelineChecked([
            ["HSET", RedisArgument(StoreKeys.clusters(tenant)), RedisArgument(cluster.id.rawValue), RedisArgument(json)],
            Self.bumpStatusVersion(tenant),
        ])
    }

    /// Overwrites a machine's record (only while the machine exists: a removed machine stays removed).
    package func saveMachine(_ machine: MachineRecord, tenant: TenantID) async throws(StoreError) {
        let json = try encode(machine)
        _ = try await run { () async throws(RedisError) in
            try await redis.evaluate(
                Self.saveIfPresent,
                keys: [RedisArgument(StoreKeys.machines(tenant)), RedisArgument(StoreKeys.statusVersion(tenant))],
                arguments: [RedisArgument(machine.id.rawValue), RedisArgument(json), RedisArgument(Self.newStatusVersion())])
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
            ["HDEL", RedisArgument(StoreKeys.machineNames(tenant)), RedisArgument(machine.name.rawValue)],
        ]
        commands.append(["DEL"] + StoreKeys.machineKeys(tenant, machine.id).map { RedisArgument($0) })
        commands.append(Self.bumpStatusVersion(tenant))
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
            Self.bumpStatusVersion(tenant),
        ])
    }

    /// Runs commands in one round trip and throws the first error reply.
    func pipelineChecked(_ commands: [[RedisArgument]]) async throws(StoreError) {
        let replies = try await run { () async throws(RedisError) in try await redis.pipeline(commands) }
        if let message = replies.lazy.compactMap(\.errorMessage).first { throw .redis(.server(message)) }
    }

    /// HSET KEYS[1] ARGV[1] ARGV[2] only if the field exists, then SET KEYS[2] (status version) ARGV[3].
    static let saveIfPresent = RedisScript("""
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
          local written = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
          redis.call('SET', KEYS[2], ARGV[3])
          return written
        end
        return -1
        """)
}
