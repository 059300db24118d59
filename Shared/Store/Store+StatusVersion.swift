package import PazSchemas
import PazRedis

/// The tenant's status version (``StoreKeys/statusVersion(_:)``): a random token every write to
/// clusters, machines or states replaces after the write, in the same script or pipeline. A reader
/// that reads the version before the data therefore never keeps old data under a new version, and a
/// token is never reused (no counter to go back after a restore).
extension Store {
    /// The tenant's current status version; nil when nothing was written since the key was introduced.
    package func statusVersion(tenant: TenantID) async throws(StoreError) -> String? {
        let key = StoreKeys.statusVersion(tenant)
        return try await run { () async throws(RedisError) in try await redis.get(key) }.map { String(decoding: $0, as: UTF8.self) }
    }

    /// A fresh version token (128 random bits, hex).
    static func newStatusVersion() -> String {
        var random = IdentifierRandom()
        return random.hex(words: 2)
    }

    /// The command that moves the tenant's status version on: the last command of a writing pipeline.
    static func bumpStatusVersion(_ tenant: TenantID) -> [RedisArgument] {
        ["SET", RedisArgument(StoreKeys.statusVersion(tenant)), RedisArgument(newStatusVersion())]
    }
}
