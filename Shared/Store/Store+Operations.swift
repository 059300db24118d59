import Foundation
package import PazSchemas
import PazRedis

extension Store {
    /// How long finished operations (and idempotency keys) are kept.
    package static let operationRetention: Duration = .seconds(7 * 24 * 3600)
    package static let idempotencyRetention: Duration = .seconds(24 * 3600)

    /// Records a new operation.
    package func createOperation(_ operation: OperationRecord, tenant: TenantID) async throws(StoreError) {
        let json = try encode(operation)
        _ = try await run { () async throws(RedisError) in
            try await redis.set(StoreKeys.operation(tenant, operation.id), RedisArgument(json),
                                expiresIn: Self.operationRetention)
        }
    }

    /// Records a new operation and, with `idempotencyKey`, claims the key for it in the same script
    /// (one round trip). Returns what the key was first used for — and records nothing — when it is
    /// taken; nil when the operation was recorded. Throws ``StoreError/limitReached(_:)`` when the
    /// tenant holds the most live keys.
    package func acceptOperation(
        _ operation: OperationRecord, tenant: TenantID, idempotencyKey: String?, requestHash: String,
        limit: Int = idempotencyKeysPerScope
    ) async throws(StoreError) -> IdempotencyRecord? {
        var keys = [RedisArgument(StoreKeys.operation(tenant, operation.id))]
        var arguments = [RedisArgument(try encode(operation)), RedisArgument(Int(Self.operationRetention.components.seconds))]
        if let idempotencyKey {
            let scope = IdempotencyScope.tenant(tenant)
            keys += [RedisArgument(scope.recordKey(idempotencyKey)), RedisArgument(scope.index)]
            arguments += [
                RedisArgument(try encode(IdempotencyRecord(requestHash: requestHash, operationId: operation.id))),
                RedisArgument(Int(Date().timeIntervalSince1970)), RedisArgument(Int(Self.idempotencyRetention.components.seconds)),
                RedisArgument(limit),
            ]
        }
        let reply = try await run { () async throws(RedisError) in
            try await redis.evaluate(Self.acceptOperationScript, keys: keys, arguments: arguments)
        }
        if reply.integer == 1 { return nil }
        if reply.integer == -1 { throw .limitReached("\(limit) Idempotency-Keys were used in the last 24 hours") }
        guard let existing = reply.string else {
            throw .corrupt(key: StoreKeys.operation(tenant, operation.id), reason: "unexpected script reply \(reply)")
        }
        return try decode(IdempotencyRecord.self, from: existing, key: StoreKeys.idempotency(tenant, key: idempotencyKey ?? ""))
    }

    /// Forgets an operation recorded by ``acceptOperation(_:tenant:idempotencyKey:requestHash:limit:)``
    /// whose request was then not accepted, and gives its Idempotency-Key back (one round trip).
    package func withdrawOperation(_ id: OperationID, tenant: TenantID, idempotencyKey: String?) async throws(StoreError) {
        var commands: [[RedisArgument]] = [["DEL", RedisArgument(StoreKeys.operation(tenant, id))]]
        if let idempotencyKey {
            let scope = IdempotencyScope.tenant(tenant)
            commands += [
                ["DEL", RedisArgument(scope.recordKey(idempotencyKey))],
                ["ZREM", RedisArgument(scope.index), RedisArgument(scope.recordKey(idempotencyKey))],
            ]
        }
        try await pipelineChecked(commands)
    }

    /// KEYS: the operation, then (with a key) the Idempotency-Key's record and the tenant's key index.
    /// ARGV: operation JSON, its retention, then the key's record JSON, now, retention, limit.
    /// 1 = recorded, -1 = too many keys, else the key's existing record (nothing recorded).
    static let acceptOperationScript = RedisScript(claimIdempotencyKeyLua + """
        if #KEYS == 3 then
          local claimed = claim_idempotency_key(KEYS[2], KEYS[3], ARGV[3], ARGV[4], ARGV[5], ARGV[6])
          if claimed ~= 1 then return claimed end
        end
        redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
        return 1
        """)

    /// Marks an operation failed as a whole (e.g. its commands could not be queued).
    package func failOperation(_ id: OperationID, error: OperationError, tenant: TenantID) async throws(StoreError) {
        guard var view = try await operation(id, tenant: tenant) else { return }
        view.record.error = error
        try await createOperation(view.record, tenant: tenant)
    }

    /// Records one machine's progress in an operation. Progress of a finished machine is final:
    /// a late or redelivered `running` event does not undo `succeeded`/`failed`.
    package func recordProgress(_ progress: MachineProgress, operation: OperationID, tenant: TenantID)
        async throws(StoreError)
    {
        let entry = try encode(ProgressEntry(progress: progress, updatedAt: Date()))
        _ = try await run { () async throws(RedisError) in
            try await redis.evaluate(
                Self.recordProgressScript,
                keys: [RedisArgument(StoreKeys.operationProgress(tenant, operation))],
                arguments: [RedisArgument(progress.machine.machineId.rawValue), RedisArgument(entry),
                            RedisArgument(progress.phase.isFinished ? 1 : 0),
                            RedisArgument(Int(Self.operationRetention.components.seconds))])
        }
    }

    /// An operation with its progress, or nil when unknown to this tenant (or expired).
    package func operation(_ id: OperationID, tenant: TenantID) async throws(StoreError) -> OperationView? {
        let recordKey = StoreKeys.operation(tenant, id)
        let progressKey = StoreKeys.operationProgress(tenant, id)
        let replies = try await run { () async throws(RedisError) in
            try await redis.pipeline([["GET", RedisArgument(recordKey)], ["HGETALL", RedisArgument(progressKey)]])
        }
        guard let json = replies[0].string else { return nil }
        let record = try decode(OperationRecord.self, from: json, key: recordKey)
        let entries = try decodeAll(ProgressEntry.self, from: Self.hash(from: replies[1]), key: progressKey)
        var byMachine: [MachineID: ProgressEntry] = [:]
        for entry in entries { byMachine[entry.progress.machine.machineId] = entry }
        let progress = record.machines.compactMap { byMachine[$0.machineId]?.progress }
        let updatedAt = entries.map(\.updatedAt).max() ?? record.createdAt
        return OperationView(record: record, progress: progress, updatedAt: updatedAt)
    }

    /// KEYS[1] progress hash; ARGV machine id, entry JSON, finished flag, retention seconds.
    static let recordProgressScript = RedisScript("""
        local current = redis.call('HGET', KEYS[1], ARGV[1])
        if current and ARGV[3] == '0' then
          local phase = cjson.decode(current)['progress']['phase']
          if phase == 'succeeded' or phase == 'failed' then return 0 end
        end
        redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
        redis.call('EXPIRE', KEYS[1], ARGV[4])
        return 1
        """)
}

/// One machine's progress with the time it was recorded.
struct ProgressEntry: Codable {
    var progress: MachineProgress
    var updatedAt: Date
}
