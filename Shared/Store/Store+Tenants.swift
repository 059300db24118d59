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

    /// Removes a tenant, its tokens and its name. The caller checks it owns no clusters first.
    package func deleteTenant(_ tenant: TenantRecord) async throws(StoreError) {
        for token in try await tokens(of: tenant.id) { try await revokeToken(token.record.id, tenant: tenant.id) }
        _ = try await run { () async throws(RedisError) in
            try await redis.pipeline([
                ["HDEL", RedisArgument(StoreKeys.tenants), RedisArgument(tenant.id.rawValue)],
                ["HDEL", RedisArgument(StoreKeys.tenantNames), RedisArgument(tenant.name.rawValue)],
            ])
        }
    }

    /// Issues a new token for `tenant` and returns it: the only time its value is available.
    package func createToken(for tenant: TenantID, name: String?) async throws(StoreError) -> (token: String, record: TokenRecord) {
        let token = APIToken.generate()
        let record = TokenRecord(tenantId: tenant, name: name)
        let json = try encode(record)
        _ = try await run { () async throws(RedisError) in
            try await redis.hset(StoreKeys.tokens, fields: [APIToken.hash(token): RedisArgument(json)])
        }
        return (token, record)
    }

    /// The token record for a presented bearer token, or nil when the token is unknown or revoked.
    package func token(presented token: String) async throws(StoreError) -> TokenRecord? {
        guard let json = try await run({ () async throws(RedisError) in
            try await redis.hget(StoreKeys.tokens, field: APIToken.hash(token))
        }) else { return nil }
        return try decode(TokenRecord.self, from: json, key: StoreKeys.tokens)
    }

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
