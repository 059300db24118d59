package import Foundation
package import PazSchemas
import PazRedis

/// A tenant's stored option values for one driver (`/v1/drivers/{driver}/defaults`): plain values
/// as they are, secret ones sealed with the master key (only their names readable).
package struct DriverDefaultsRecord: Sendable, Hashable, Codable {
    package var options: [String: JSONValue]
    package var secretOptionNames: [String]
    /// The secret values as `[name: value]` JSON, sealed (context: the record's key); nil when none.
    package var sealedSecrets: String?
    package var updatedAt: Date
}

extension Store {
    /// Replaces the tenant's defaults for `driver`, sealing `secrets`.
    @discardableResult
    package func setDriverDefaults(
        plain: [String: JSONValue], secrets: [String: String], tenant: TenantID, driver: ResourceName
    ) async throws(StoreError) -> DriverDefaultsRecord {
        let key = StoreKeys.driverDefaults(tenant, driver: driver)
        let sealed = secrets.isEmpty ? nil : try seal(secrets, key: key)
        let record = DriverDefaultsRecord(
            options: plain, secretOptionNames: secrets.keys.sorted(), sealedSecrets: sealed, updatedAt: Date())
        let json = try encode(record)
        _ = try await run { () async throws(RedisError) in
            try await redis.pipeline([["SET", RedisArgument(key), RedisArgument(json)], Self.bumpDefaultsVersion(tenant)])
        }
        return record
    }

    /// The version goes up after the write: a reader that saw the old version may have read the new
    /// record (harmless), but one that sees the new version never reads the old record.
    private static func bumpDefaultsVersion(_ tenant: TenantID) -> [RedisArgument] {
        ["INCR", RedisArgument(StoreKeys.driverDefaultsVersion(tenant))]
    }

    /// The tenant's defaults for `driver` as of `version`, the tenant's defaults version read in the
    /// same round trip as its authentication (nil: it has none yet): from the cache while the
    /// version is the one they were read under, else read again.
    package func driverDefaults(tenant: TenantID, driver: ResourceName, version: String?)
        async throws(StoreError) -> DriverDefaultsRecord?
    {
        let key = StoreKeys.driverDefaults(tenant, driver: driver)
        if let cached = defaultsCache.value(for: key, version: version) { return cached }
        let record = try await driverDefaults(tenant: tenant, driver: driver)
        defaultsCache.keep(record, for: key, version: version)
        return record
    }

    /// The tenant's defaults for `driver`, or nil when none are stored.
    package func driverDefaults(tenant: TenantID, driver: ResourceName) async throws(StoreError) -> DriverDefaultsRecord? {
        let key = StoreKeys.driverDefaults(tenant, driver: driver)
        guard let json = try await run({ () async throws(RedisError) in try await redis.getString(key) }) else { return nil }
        return try decode(DriverDefaultsRecord.self, from: json, key: key)
    }

    /// The secret values of `record` (stored for `tenant` and `driver`), opened.
    package func openSecrets(
        of record: DriverDefaultsRecord, tenant: TenantID, driver: ResourceName
    ) throws(StoreError) -> [String: String] {
        guard let sealed = record.sealedSecrets else { return [:] }
        return try open(sealed, key: StoreKeys.driverDefaults(tenant, driver: driver))
    }

    /// Forgets the tenant's defaults for `driver` (nothing happens when none are stored).
    package func deleteDriverDefaults(tenant: TenantID, driver: ResourceName) async throws(StoreError) {
        let key = StoreKeys.driverDefaults(tenant, driver: driver)
        _ = try await run { () async throws(RedisError) in
            try await redis.pipeline([["DEL", RedisArgument(key)], Self.bumpDefaultsVersion(tenant)])
        }
    }
}
