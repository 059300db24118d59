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
