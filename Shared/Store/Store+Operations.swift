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

    /// Records a new operation and, with `idempotencyKey`, claims the key for it, and with `recording`
    /// records its cluster, machines and sealed secrets — all in one script (one round trip). Returns
    /// what the key was first used for — and records nothing — when it is taken; nil when recorded.
    /// Throws ``StoreError/limitReached(_:)`` when the tenant holds the most live keys, and the
    /// recording's refusal (name taken, quota…) with nothing recorded and the key left free.
    package func acceptOperation(
        _ operation: OperationRecord, tenant: TenantID, idempotencyKey: String?, requestHash: String,
        recording: OperationRecording? = nil, limit: Int = idempotencyKeysPerScope
    ) async throws(StoreError) -> IdempotencyRecord? {
        var keys = [RedisArgument(StoreKeys.operation(tenant, operation.id))]
        var arguments = [
            RedisArgument(try encode(operation)), RedisArgument(Int(Self.operationRetention.components.seconds)),
            idempotencyKey == nil ? "0" : "1", RedisArgument(recording?.arguments.count ?? 0),
        ]
        if let idempotencyKey {
            let scope = IdempotencyScope.tenant(tenant)
            keys += [RedisArgument(scope.recordKey(idempotencyKey)), RedisArgument(scope.index)]
            arguments += [
                RedisArgument(try encode(IdempotencyRecord(requestHash: requestHash, operationId: operation.id))),
                RedisArgument(Int(Date().timeIntervalSince1970)), RedisArgument(Int(Self.idempotencyRetention.components.seconds)),
                RedisArgument(limit),
            ]
        }
        if let recording {
            keys += recording.keys
            arguments += recording.arguments
            for (key, sealed) in recording.secrets { arguments += [RedisArgument(key), RedisArgument(sealed)] }
        }
        let reply = try await run { () async throws(RedisError) in
            try await redis.evaluate(Self.acceptOperationScript, keys: keys, arguments: arguments)
        }
        let fields = reply.array?.map { $0.string ?? "" } ?? []
        switch fields.first {
        case "ok": return nil
        case "replay" where fields.count > 1:
            return try decode(IdempotencyRecord.self, from: fields[1], key: StoreKeys.idempotency(tenant, key: idempotencyKey ?? ""))
        case "limit": throw .limitReached("\(limit) Idempotency-Keys were used in the last 24 hours")
        case "record": throw Self.recordingFailure(Array(fields.dropFirst()), adding: recording?.machineCount ?? 0, tenant: tenant)
        default: throw .corrupt(key: StoreKeys.operation(tenant, operation.id), reason: "unexpected script reply \(reply)")
        }
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

    /// KEYS: the operation, then (with a key) the Idempotency-Key's record and the tenant's key index,
    /// then (with a recording) the 7 keys of `record_machines`.
    /// ARGV: operation JSON, its retention, 1/0 (a key), the recording's argument count, then (with a
    /// key) the key's record JSON, now, retention, limit, then the recording's arguments, then pairs of
    /// secret key and sealed value (the gateway may only write secrets, and declared keys need read
    /// access too, so their keys are arguments). Returns {'ok'}, {'replay', record}, {'limit'} or
    /// {'record', refusal…}; a refusal leaves the key free and records nothing.
    static let acceptOperationScript = RedisScript(claimIdempotencyKeyLua + recordMachinesLua + """
        local k, a = 2, 5
        local claimed = false
        if ARGV[3] == '1' then
          local result = claim_idempotency_key(KEYS[2], KEYS[3], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
          if result == -1 then return {'limit'} end
          if result ~= 1 then return {'replay', result} end
          claimed = true
          k, a = 4, 9
        end
        local count = tonumber(ARGV[4])
        if count > 0 then
          local K, A = {}, {}
          for i = 1, 7 do K[i] = KEYS[k + i - 1] end
          for i = 1, count do A[i] = ARGV[a + i - 1] end
          local recorded = record_machines(K, A)
          if recorded[1] ~= 'ok' then
            if claimed then
              redis.call('DEL', KEYS[2])
              redis.call('ZREM', KEYS[3], KEYS[2])
            end
            table.insert(recorded, 1, 'record')
            return recorded
          end
          a = a + count
        end
        for i = a, #ARGV - 1, 2 do redis.call('SET', ARGV[i], ARGV[i + 1]) end
        redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
        return {'ok'}
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
