import Foundation
package import PazSchemas
import PazRedis

/// Records an accepted operation makes in the same script (``Store/newClusterRecording(_:machines:secrets:tenant:initialState:)``).
package struct OperationRecording: Sendable {
    let keys: [RedisArgument]
    let arguments: [RedisArgument]
    let machineCount: Int
    /// Secret options per machine: the key and the sealed value.
    let secrets: [(key: String, sealed: String)]
}

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

    /// What recording a new cluster takes, for ``acceptOperation(_:tenant:idempotencyKey:requestHash:recording:limit:)``:
    /// the cluster with its machines (quota enforced, names claimed, state `initialState`) and each
    /// machine's secret options, sealed.
    package func newClusterRecording(
        _ cluster: ClusterRecord, machines: [MachineRecord], secrets: [MachineID: [String: String]], tenant: TenantID,
        initialState: MachineState = .starting
    ) throws(StoreError) -> OperationRecording {
        let parts = try recordingParts(
            machines, cluster: .new(cluster), tenant: tenant, initialState: initialState, enforceQuota: true)
        var sealed: [(key: String, sealed: String)] = []
        for machine in machines {
            guard let values = secrets[machine.id], !values.isEmpty else { continue }
            let key = StoreKeys.secrets(tenant, machine.id)
            sealed.append((key, try seal(values, key: key)))
        }
        return OperationRecording(keys: parts.keys, arguments: parts.arguments, machineCount: machines.count, secrets: sealed)
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

    enum ClusterWrite {
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
        let parts = try recordingParts(
            machines, cluster: cluster, tenant: tenant, initialState: initialState, enforceQuota: enforceQuota)
        let reply = try await run { () async throws(RedisError) in
            try await redis.evaluate(Self.recordMachinesScript, keys: parts.keys, arguments: parts.arguments)
        }
        let fields = reply.array?.compactMap(\.string) ?? []
        if fields.first == "ok" { return }
        throw Self.recordingFailure(fields, adding: machines.count, tenant: tenant)
    }

    /// The keys and arguments of ``recordMachinesLua``'s `record_machines` for these machines.
    func recordingParts(
        _ machines: [MachineRecord], cluster: ClusterWrite, tenant: TenantID, initialState: MachineState,
        enforceQuota: Bool
    ) throws(StoreError) -> (keys: [RedisArgument], arguments: [RedisArgument]) {
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
        return (keys, arguments)
    }

    /// The error of a `record_machines` reply other than `{'ok'}`.
    static func recordingFailure(_ fields: [String], adding count: Int, tenant: TenantID) -> StoreError {
        switch fields.first {
        case "no-tenant": .notFound("tenant \(tenant) no longer exists")
        case "no-cluster": .notFound("the cluster was removed")
        case "cluster-changed": .clusterChanged
        case "quota": .quotaExceeded(have: Int(fields[1]) ?? 0, quota: Int(fields[2]) ?? 0, adding: count)
        case "cluster-name": .conflict("a cluster named \(fields[1]) exists already")
        case "machine-name": .conflict("a machine named \(fields[1]) exists already")
        default: .corrupt(key: StoreKeys.machines(tenant), reason: "unexpected reply \(fields) from the record script")
        }
    }

    /// Quota check, name claims and writes of a create, all or nothing.
    /// KEYS: tenants, cluster-names, clusters, machines, states, machine-names, status version.
    /// ARGV: tenant id, enforce quota (1/0), cluster mode (new/existing/none), cluster id, name, JSON,
    /// expected JSON (existing), new status version, then per machine: id, name, JSON, state JSON.
    static let recordMachinesScript = RedisScript(recordMachinesLua + """
        return record_machines(KEYS, ARGV)
        """)

    /// The Lua function behind ``recordMachinesScript``, for scripts that record machines as one of
    /// their steps: `record_machines(keys, arguments)` with the script's KEYS and ARGV layout; every
    /// check comes before the first write, so a refusal writes nothing.
    static let recordMachinesLua = """
        local function record_machines(K, A)
          local mode = A[3]
          local first = 9
          local count = (#A - first + 1) / 4
          -- machine-names is kept from the machines hash when it is missing or out of step (older data).
          if redis.call('HLEN', K[6]) ~= redis.call('HLEN', K[4]) then
            redis.call('DEL', K[6])
            local all = redis.call('HGETALL', K[4])
            for i = 1, #all, 2 do redis.call('HSET', K[6], cjson.decode(all[i + 1])['name'], all[i]) end
          end
          if A[2] == '1' then
            local tenant = redis.call('HGET', K[1], A[1])
            if not tenant then return {'no-tenant'} end
            local quota = tonumber(cjson.decode(tenant)['machineQuota'])
            local have = redis.call('HLEN', K[4])
            if have + count > quota then return {'quota', tostring(have), tostring(quota)} end
          end
          if mode == 'new' then
            if redis.call('HEXISTS', K[2], A[5]) == 1 then return {'cluster-name', A[5]} end
          elseif mode == 'existing' then
            local current = redis.call('HGET', K[3], A[4])
            if not current then return {'no-cluster'} end
            if current ~= A[7] then return {'cluster-changed'} end
          end
          local seen = {}
          for i = 0, count - 1 do
            local name = A[first + i * 4 + 1]
            if seen[name] or redis.call('HEXISTS', K[6], name) == 1 then return {'machine-name', name} end
            seen[name] = true
          end
          if mode == 'new' then redis.call('HSET', K[2], A[5], A[4]) end
          if mode ~= 'none' then redis.call('HSET', K[3], A[4], A[6]) end
          for i = 0, count - 1 do
            local base = first + i * 4
            redis.call('HSET', K[4], A[base], A[base + 2])
            redis.call('HSET', K[5], A[base], A[base + 3])
            redis.call('HSET', K[6], A[base + 1], A[base])
          end
          redis.call('SET', K[7], A[8])
          return {'ok'}
        end

        """

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
