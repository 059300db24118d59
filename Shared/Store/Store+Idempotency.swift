package import PazSchemas
import PazRedis

extension Store {
    /// Gives back an `Idempotency-Key` claimed for a request that was then not accepted (e.g. the
    /// broker was down), so a retry with the same key is treated as a first call.
    package func releaseIdempotencyKey(_ key: String, tenant: TenantID) async throws(StoreError) {
        let redisKey = StoreKeys.idempotency(tenant, key: key)
        try await pipelineChecked([
            ["DEL", RedisArgument(redisKey)], ["ZREM", RedisArgument(StoreKeys.idempotencyIndex(tenant)), RedisArgument(redisKey)],
        ])
    }
}

extension OperationView {
    /// A just-recorded operation: no progress yet.
    package init(queued record: OperationRecord) {
        self.init(record: record, progress: [], updatedAt: record.createdAt)
    }
}

extension Store {
    /// What `key` was first used for, or nil when it is unused (or expired).
    package func idempotencyRecord(_ key: String, tenant: TenantID) async throws(StoreError) -> IdempotencyRecord? {
        let redisKey = StoreKeys.idempotency(tenant, key: key)
        guard let json = try await run({ () async throws(RedisError) in try await redis.getString(redisKey) }) else {
            return nil
        }
        return try decode(IdempotencyRecord.self, from: json, key: redisKey)
    }
}
