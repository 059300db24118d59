import Foundation
package import PazSchemas
import PazRedis

/// Where an `Idempotency-Key` is kept: in a tenant's keyspace, or the administrator's.
package enum IdempotencyScope: Sendable {
    case tenant(TenantID)
    case admin

    func recordKey(_ key: String) -> String {
        switch self {
        case .tenant(let tenant): StoreKeys.idempotency(tenant, key: key)
        case .admin: StoreKeys.adminIdempotencyPrefix + key
        }
    }

    var index: String {
        switch self {
        case .tenant(let tenant): StoreKeys.idempotencyIndex(tenant)
        case .admin: StoreKeys.adminIdempotencyIndex
        }
    }
}

/// What an admin call's `Idempotency-Key` was first used for: the request and what it made.
package struct AdminIdempotencyRecord: Sendable, Hashable, Codable {
    /// SHA-256 of the method, path and body of the first request.
    package var requestHash: String
    /// The tenant or token id the first call made.
    package var resourceId: String

    package init(requestHash: String, resourceId: String) {
        self.requestHash = requestHash
        self.resourceId = resourceId
    }
}

extension Store {
    /// Idempotency keys one scope may hold within ``idempotencyRetention``.
    package static let idempotencyKeysPerScope = 10_000

    /// Claims `key` in `scope` for a new request, or returns what it was first used for. Throws
    /// ``StoreError/limitReached(_:)`` when the scope already holds `limit` live keys.
    package func claimIdempotencyKey<Record: Codable>(
        _ key: String, record: Record, in scope: IdempotencyScope, limit: Int = idempotencyKeysPerScope
    ) async throws(StoreError) -> Record? {
        let redisKey = scope.recordKey(key)
        let json = try encode(record)
        let now = Int(Date().timeIntervalSince1970)
        let retention = Int(Self.idempotencyRetention.components.seconds)
        let reply = try await run { () async throws(RedisError) in
            try await redis.evaluate(
                Self.claimIdempotencyKeyScript, keys: [RedisArgument(redisKey), RedisArgument(scope.index)],
                arguments: [RedisArgument(json), RedisArgument(now), RedisArgument(retention), RedisArgument(limit)])
        }
        if reply.integer == 1 { return nil }
        if reply.integer == -1 {
            throw .limitReached("\(limit) Idempotency-Keys were used in the last 24 hours")
        }
        guard let existing = reply.string else { return nil }
        return try decode(Record.self, from: existing, key: redisKey)
    }

    /// KEYS: the key's record, the scope's index (ZSET key → expiry); ARGV: record JSON, now,
    /// retention seconds, the most live keys. 1 = claimed, -1 = the scope is at its limit, else the
    /// existing record.
    static let claimIdempotencyKeyScript = RedisScript(claimIdempotencyKeyLua + """
        return claim_idempotency_key(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
        """)

    /// The Lua function behind ``claimIdempotencyKeyScript``, for scripts that claim a key as one of
    /// their steps: `claim_idempotency_key(record key, index, record JSON, now, retention, limit)`.
    static let claimIdempotencyKeyLua = """
        local function claim_idempotency_key(key, index, json, now, retention, limit)
          local existing = redis.call('GET', key)
          if existing then return existing end
          redis.call('ZREMRANGEBYSCORE', index, '-inf', now)
          if redis.call('ZCARD', index) >= tonumber(limit) then return -1 end
          redis.call('SET', key, json, 'EX', retention)
          redis.call('ZADD', index, tonumber(now) + tonumber(retention), key)
          redis.call('EXPIRE', index, retention)
          return 1
        end

        """

    /// Gives back an `Idempotency-Key` claimed for a request that was then not accepted (e.g. the
    /// broker was down), so a retry with the same key is treated as a first call.
    package func releaseIdempotencyKey(_ key: String, in scope: IdempotencyScope) async throws(StoreError) {
        let redisKey = scope.recordKey(key)
        try await pipelineChecked([
            ["DEL", RedisArgument(redisKey)], ["ZREM", RedisArgument(scope.index), RedisArgument(redisKey)],
        ])
    }

    /// What `key` was first used for in `scope`, or nil when it is unused (or expired).
    package func idempotencyRecord<Record: Codable>(_ key: String, in scope: IdempotencyScope) async throws(StoreError) -> Record? {
        let redisKey = scope.recordKey(key)
        guard let json = try await run({ () async throws(RedisError) in try await redis.getString(redisKey) }) else {
            return nil
        }
        return try decode(Record.self, from: json, key: redisKey)
    }
}

extension OperationView {
    /// A just-recorded operation: no progress yet.
    package init(queued record: OperationRecord) {
        self.init(record: record, progress: [], updatedAt: record.createdAt)
    }
}
