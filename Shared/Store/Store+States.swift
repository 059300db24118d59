import Foundation
package import PazSchemas
import PazRedis

/// The outcome of ``Store/writeState(_:machine:tenant:)``.
package enum StateWrite: Sendable, Equatable {
    /// Written; carries the state it replaced (nil when there was none).
    case written(previous: MachineState?)
    /// Not written: the stored observation is as new or newer.
    case stale
    /// Not written: the machine is not (or no longer) recorded.
    case unknownMachine
}

/// Everything `GET /v1/status` shows, read in one round trip.
package struct StatusSnapshot: Sendable {
    /// The tenant's status version, read before the data (and set first when the tenant had none):
    /// the data is at least as new as this version.
    package var version: String
    package var clusters: [ClusterRecord]
    package var machines: [MachineRecord]
    package var states: [MachineID: StateRecord]
}

extension Store {
    /// Writes a machine's state if `record` was observed later than the stored one, atomically
    /// (a slow poll never overwrites a newer state) and only while the machine is recorded.
    package func writeState(_ record: StateRecord, machine: MachineID, tenant: TenantID) async throws(StoreError)
        -> StateWrite
    {
        let json = try encode(record)
        let reply = try await run { () async throws(RedisError) in
            try await redis.evaluate(
                Self.compareAndSetState,
                keys: [RedisArgument(StoreKeys.machines(tenant)), RedisArgument(StoreKeys.states(tenant)),
                       RedisArgument(StoreKeys.statusVersion(tenant))],
                arguments: [RedisArgument(machine.rawValue), RedisArgument(json), RedisArgument(Timestamp.format(record.observedAt)),
                            RedisArgument(Self.newStatusVersion())])
        }
        guard let parts = reply.array, let code = parts.first?.integer else {
            throw .corrupt(key: StoreKeys.states(tenant), reason: "unexpected script reply \(reply)")
        }
        switch code {
        case 1:
            let previous = parts.count > 1 ? parts[1].string.flatMap { MachineState(rawValue: $0) } : nil
            return .written(previous: previous)
        case 0: return .stale
        default: return .unknownMachine
        }
    }

    /// The last observed state of every machine of the tenant.
    package func states(tenant: TenantID) async throws(StoreError) -> [MachineID: StateRecord] {
        let key = StoreKeys.states(tenant)
        let hash = try await run { () async throws(RedisError) in try await redis.hgetall(key) }
        return try decodeStates(hash, key: key)
    }

    /// The status version, then clusters, machines and states of the tenant, in one pipelined round
    /// trip. A tenant without a version gets one first (`SET NX GET`), so its next reads can be cached.
    package func statusSnapshot(tenant: TenantID) async throws(StoreError) -> StatusSnapshot {
        let keys = [StoreKeys.clusters(tenant), StoreKeys.machines(tenant), StoreKeys.states(tenant)]
        let fresh = Self.newStatusVersion()
        let replies = try await run { () async throws(RedisError) in
            try await redis.pipeline([["SET", RedisArgument(StoreKeys.statusVersion(tenant)), RedisArgument(fresh), "NX", "GET"]]
                + keys.map { ["HGETALL", RedisArgument($0)] })
        }
        if let message = replies.lazy.compactMap(\.errorMessage).first { throw .redis(.server(message)) }
        let hashes = replies.dropFirst().map(Self.hash(from:))
        return StatusSnapshot(
            version: replies[0].string ?? fresh,
            clusters: try decodeAll(ClusterRecord.self, from: hashes[0], key: keys[0], cache: clusterCache)
                .sorted { $0.createdAt < $1.createdAt },
            machines: try decodeAll(MachineRecord.self, from: hashes[1], key: keys[1], cache: machineCache).sorted {
                ($0.createdAt, $0.name.rawValue) < ($1.createdAt, $1.name.rawValue)
            },
            states: try decodeStates(hashes[2], key: keys[2])
        )
    }

    private func decodeStates(_ hash: [String: String], key: String) throws(StoreError) -> [MachineID: StateRecord] {
        var states: [MachineID: StateRecord] = [:]
        for (id, json) in hash {
            guard let machine = try? MachineID(id) else { throw .corrupt(key: key, reason: "bad machine id \(id)") }
            states[machine] = try stateCache.value(for: json) { (json) throws(StoreError) in
                try decode(StateRecord.self, from: json, key: key)
            }
        }
        return states
    }

    /// A flat HGETALL reply as a dictionary.
    static func hash(from reply: RedisValue) -> [String: String] {
        guard let items = reply.array else { return [:] }
        var result: [String: String] = [:]
        var index = 0
        while index + 1 < items.count {
            if let field = items[index].string, let value = items[index + 1].string { result[field] = value }
            index += 2
        }
        return result
    }

    /// KEYS[1] machines hash, KEYS[2] states hash, KEYS[3] status version; ARGV machine id, state JSON,
    /// observedAt as written by ``PazSchemas/Timestamp`` (fixed width, so string order is time order),
    /// the new status version.
    /// Returns {1, previous state} when written, {0} when stale, {-1} for an unknown machine.
    static let compareAndSetState = RedisScript("""
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return {-1} end
        local current = redis.call('HGET', KEYS[2], ARGV[1])
        if current then
          local stored = cjson.decode(current)
          if stored['observedAt'] >= ARGV[3] then return {0} end
          redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
          redis.call('SET', KEYS[3], ARGV[4])
          return {1, stored['state']}
        end
        redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
        redis.call('SET', KEYS[3], ARGV[4])
        return {1}
        """)
}
