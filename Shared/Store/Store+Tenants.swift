package import Foundation
package import PazSchemas
import PazSecrets
import PazRedis

extension Store {
    /// Records a new tenant; its name must be unused.
    package func createTenant(_ tenant: TenantRecord) async throws(StoreError) {
        let claimed = try await run { () async throws(RedisError) in
            try await redis.command(["HSETNX", RedisArgument(StoreKeys.tenantNames), RedisArgument(tenant.name.rawValue),
                                     RedisArgument(tenant.id.rawValue)]).integer == 1
        }
        guard claimed else { throw .conflict("a tenant named \(tenant.name) exists already") }
        try await saveTenant(tenant)
    }

    /// Overwrites a tenant's record (e.g. a new quota).
    package func saveTenant(_ tenant: TenantRecord) async throws(StoreError) {
        let json = try encode(tenant)
        _ = try await run { () async throws(RedisError) in
            try await redis.hset(StoreKeys.tenants, fields: [tenant.id.rawValue: RedisArgument(json)])
        }
    }

    /// The tenant with `id`.
    package func tenant(_ id: TenantID) async throws(StoreError) -> TenantRecord {
        guard let json = try await run({ () async throws(RedisError) in
            try await redis.hget(StoreKeys.tenants, field: id.rawValue)
        }) else { throw .notFound("no tenant \(id)") }
        return try decode(TenantRecord.self, from: json, key: StoreKeys.tenants)
    }

    /// Every tenant.
    package func tenants() async throws(StoreError) -> [TenantRecord] {
        let hash = try await run { () async throws(RedisError) in try await redis.hgetall(StoreKeys.tenants) }
        return try decodeAll(TenantRecord.self, from: hash, key: StoreKeys.tenants).sorted { $0.createdAt < $1.createdAt }
    }

    /// Removes a tenant and everything it owns: record and name (atomically, and only while it owns no
    /// cluster, so a create racing the removal either lands first and the removal is refused, or
    /// finds the tenant gone), then its tokens and every key under its prefix.
    package func deleteTenant(_ tenant: TenantRecord) async throws(StoreError) {
        let removed = try await run { () async throws(RedisError) in
            try await redis.evaluate(
                Self.deleteTenantScript,
                keys: [RedisArgument(StoreKeys.tenants), RedisArgument(StoreKeys.tenantNames),
                       RedisArgument(StoreKeys.clusters(tenant.id))],
                arguments: [RedisArgument(tenant.id.rawValue), RedisArgument(tenant.name.rawValue)])
        }
        switch removed.integer {
        case 1: break
        case 0: throw .notFound("no tenant \(tenant.id)")
        default: throw .conflict("tenant \(tenant.name) owns clusters; delete them first")
        }
        for token in try await tokens(of: tenant.id) { try await revokeToken(token.record.id, tenant: tenant.id) }
        let owned = try await run { () async throws(RedisError) in
            try await redis.scanKeys(matching: StoreKeys.tenantPrefix(tenant.id) + "*")
        }
        for batch in stride(from: 0, to: owned.count, by: 500) {
            let keys = Array(owned[batch..<min(batch + 500, owned.count)])
            _ = try await run { () async throws(RedisError) in try await redis.delete(keys) }
        }
    }

    /// KEYS: tenants, tenant-names, the tenant's clusters; ARGV: id, name.
    /// 1 = removed, 0 = no such tenant, -1 = it owns clusters.
    static let deleteTenantScript = RedisScript("""
        if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
        if redis.call('HLEN', KEYS[3]) > 0 then return -1 end
        redis.call('HDEL', KEYS[1], ARGV[1])
        redis.call('HDEL', KEYS[2], ARGV[2])
        return 1
        """)

    /// Issues a new token for `tenant` and returns it: the only time its value is available.
    package func createToken(
        for tenant: TenantID, id: String = "tok_" + ULID.make(), name: String?, expiresIn: Duration? = nil
    ) async throws(StoreError) -> (token: String, record: TokenRecord) {
        let token = APIToken.generate()
        let now = Date()
        let record = TokenRecord(
            id: id, tenantId: tenant, name: name, prefix: String(token.prefix(9)), createdAt: now,
            expiresAt: expiresIn.map { now.addingTimeInterval(TimeInterval($0.components.seconds)) })
        let json = try encode(record)
        _ = try await run { () async throws(RedisError) in
            try await redis.hset(StoreKeys.tokens, fields: [APIToken.hash(token): RedisArgument(json)])
        }
        return (token, record)
    }

    /// A version key of the tenant that ``authenticate(presented:now:reading:)`` reads with the
    /// token, so the request that needs it makes no read of its own.
    package enum TenantVersion: Sendable {
        /// ``StoreKeys/statusVersion(_:)``, for `GET /v1/status`.
        case status
        /// ``StoreKeys/driverDefaultsVersion(_:)``, for creates (``driverDefaults(tenant:driver:version:)``).
        case driverDefaults

        var suffix: String {
            switch self {
            case .status: StoreKeys.statusVersionSuffix
            case .driverDefaults: StoreKeys.driverDefaultsVersionSuffix
            }
        }
    }

    /// A presented bearer token's record; nil when the token is unknown, revoked or expired. With
    /// `reading`, also that version of the tenant (nil when it has none).
    ///
    /// Both are read through the store's tracking cache when it has one (``init(redis:secretBox:tracking:)``):
    /// no round trip while neither changed in Redis.
    package func authenticate(presented token: String, now: Date = Date(), reading version: TenantVersion? = nil)
        async throws(StoreError) -> (record: TokenRecord, version: String?)?
    {
        guard let json = try await trackedRead(StoreKeys.tokens, field: APIToken.hash(token)) else { return nil }
        let record = try tokenCache.value(for: String(decoding: json, as: UTF8.self)) { (json) throws(StoreError) in
            try decode(TokenRecord.self, from: json, key: StoreKeys.tokens)
        }
        guard !record.isExpired(at: now) else { return nil }
        guard let version else { return (record, nil) }
        let value = try await trackedRead(StoreKeys.tenantPrefix(record.tenantId) + version.suffix, field: nil)
        return (record, value.map { String(decoding: $0, as: UTF8.self) })
    }

    /// Adds `count` requests to the tenant's count of `second` (`paz:t:<tenant>:rate:<second>`,
    /// expiring after 2 s) and returns the new count: how the gateway leases its rate-limit permits.
    package func countRequests(tenant: TenantID, second: Int, count: Int) async throws(StoreError) -> Int {
        let reply = try await run { () async throws(RedisError) in
            try await redis.evaluate(
                Self.countRequestsScript, keys: [RedisArgument(StoreKeys.rateWindow(tenant, second: second))],
                arguments: [RedisArgument(count)])
        }
        guard let total = reply.integer else { throw .corrupt(key: StoreKeys.rateWindow(tenant, second: second), reason: "not a count") }
        return Int(total)
    }

    /// KEYS: the rate window; ARGV: how many requests to add. Returns the window's new count.
    static let countRequestsScript = RedisScript("""
        local count = redis.call('INCRBY', KEYS[1], ARGV[1])
        if count == tonumber(ARGV[1]) then redis.call('EXPIRE', KEYS[1], 2) end
        return count
        """)

    /// The tenant's tokens (records with their stored hashes; never the tokens).
    package func tokens(of tenant: TenantID) async throws(StoreError) -> [(hash: String, record: TokenRecord)] {
        let hash = try await run { () async throws(RedisError) in try await redis.hgetall(StoreKeys.tokens) }
        var result: [(hash: String, record: TokenRecord)] = []
        for (digest, json) in hash {
            let record = try decode(TokenRecord.self, from: json, key: StoreKeys.tokens)
            if record.tenantId == tenant { result.append((digest, record)) }
        }
        return result.sorted { $0.record.createdAt < $1.record.createdAt }
    }

    /// Revokes the tenant's token `id`; false when it has no such token.
    @discardableResult
    package func revokeToken(_ id: String, tenant: TenantID) async throws(StoreError) -> Bool {
        guard let match = try await tokens(of: tenant).first(where: { $0.record.id == id }) else { return false }
        _ = try await run { () async throws(RedisError) in try await redis.hdel(StoreKeys.tokens, fields: [match.hash]) }
        return true
    }
}
