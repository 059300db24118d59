import Foundation
package import PazRedis
package import PazSchemas
package import PazSecrets

/// Typed access to everything Paz Machine keeps in Redis (keys: ``StoreKeys``).
///
/// Shared by the gateway (tenants, clusters, machines, operations), the status collector (states)
/// and the driver kit (registry, secrets, driver data, journal), so the layout lives in one place.
package struct Store: Sendable {
    package let redis: RedisClient
    private let secretBox: SecretBox?
    /// Decoded cluster and machine records and states by their JSON (see ``DecodeCache``).
    let clusterCache = DecodeCache<ClusterRecord>()
    let machineCache = DecodeCache<MachineRecord>()
    /// Decoded states: a state's text changes only when a poll or an event writes it.
    let stateCache = DecodeCache<StateRecord>()
    /// Decoded token records (read by every authenticated request).
    let tokenCache = DecodeCache<TokenRecord>(limit: 10_000)
    /// Decoded driver announcements (read by every create and lifecycle call).
    let announcementCache = DecodeCache<DriverAnnouncement>(limit: 1_000)
    /// Driver defaults by tenant and driver, with the tenant's defaults version they were read under.
    let defaultsCache = VersionedCache<DriverDefaultsRecord?>(limit: 10_000)

    /// Where ``authenticate(presented:now:reading:)`` reads tokens and tenant versions: kept in memory
    /// until Redis says they changed. Nil: read from Redis every time.
    package let tracking: RedisTrackingCache?

    /// A store over `redis`; `secretBox` is needed only by code that seals or opens secrets, `tracking`
    /// only by the gateway (every request authenticates).
    package init(redis: RedisClient, secretBox: SecretBox? = nil, tracking: RedisTrackingCache? = nil) {
        self.redis = redis
        self.secretBox = secretBox
        self.tracking = tracking
    }

    // MARK: JSON helpers

    func encode(_ value: some Encodable) throws(StoreError) -> String {
        do {
            return String(decoding: try MessageCodec.encodeValue(value), as: UTF8.self)
        } catch {
            throw .corrupt(key: "(encoding)", reason: "\(error)")
        }
    }

    func decode<Value: Decodable>(_: Value.Type, from text: String, key: String) throws(StoreError) -> Value {
        do {
            return try MessageCodec.decodeValue(Value.self, from: Data(text.utf8))
        } catch {
            throw .corrupt(key: key, reason: "\(error)")
        }
    }

    func decodeAll<Value: Decodable>(
        _: Value.Type, from hash: [String: String], key: String, cache: DecodeCache<Value>? = nil
    ) throws(StoreError) -> [Value] {
        var values: [Value] = []
        values.reserveCapacity(hash.count)
        for text in hash.values {
            if let cache {
                values.append(try cache.value(for: text) { (text) throws(StoreError) in try decode(Value.self, from: text, key: key) })
            } else {
                values.append(try decode(Value.self, from: text, key: key))
            }
        }
        return values
    }

    /// `GET key` (no `field`) or `HGET key field`, through ``tracking`` when the store has it.
    func trackedRead(_ key: String, field: String?) async throws(StoreError) -> [UInt8]? {
        try await run { () async throws(RedisError) in
            switch (tracking, field) {
            case (let tracking?, let field?): try await tracking.hget(key, field: field)
            case (let tracking?, nil): try await tracking.get(key)
            case (nil, let field?): try await redis.command(["HGET", RedisArgument(key), RedisArgument(field)]).bytes
            case (nil, nil): try await redis.get(key)
            }
        }
    }

    func run<T>(_ body: () async throws(RedisError) -> T) async throws(StoreError) -> T {
        do {
            return try await body()
        } catch {
            throw .redis(error)
        }
    }

    // MARK: Secrets

    /// Seals `values` (secret option name → value) for one machine. Empty values remove the key.
    package func putSecrets(_ values: [String: String], tenant: TenantID, machine: MachineID) async throws(StoreError) {
        let key = StoreKeys.secrets(tenant, machine)
        guard !values.isEmpty else {
            _ = try await run { () async throws(RedisError) in try await redis.delete([key]) }
            return
        }
        let sealed = try seal(values, key: key)
        try await run { () async throws(RedisError) in _ = try await redis.set(key, RedisArgument(sealed)) }
    }

    /// The secret options of one machine (empty when it has none).
    package func secrets(tenant: TenantID, machine: MachineID) async throws(StoreError) -> [String: String] {
        let key = StoreKeys.secrets(tenant, machine)
        guard let sealed = try await run({ () async throws(RedisError) in try await redis.getString(key) }) else {
            return [:]
        }
        return try open(sealed, key: key)
    }

    /// `values` as JSON sealed with the master key, bound to the Redis `key` it is stored under.
    func seal(_ values: [String: String], key: String) throws(StoreError) -> String {
        guard let secretBox else { throw .secretsUnavailable }
        let plaintext = try encode(values)
        do {
            return try secretBox.seal(plaintext, context: key)
        } catch {
            throw .secret(error)
        }
    }

    /// What ``seal(_:key:)`` sealed for `key`.
    func open(_ sealed: String, key: String) throws(StoreError) -> [String: String] {
        guard let secretBox else { throw .secretsUnavailable }
        let plaintext: String
        do {
            plaintext = try secretBox.openText(sealed, context: key)
        } catch {
            throw .secret(error)
        }
        return try decode([String: String].self, from: plaintext, key: key)
    }
}

/// Why a store call failed.
package enum StoreError: Error, CustomStringConvertible {
    /// Redis did not answer or refused the command.
    case redis(RedisError)
    /// A stored value does not decode: written by an incompatible version, or damaged.
    case corrupt(key: String, reason: String)
    /// The name or key is taken.
    case conflict(String)
    /// The tenant has `have` of `quota` machines; `adding` more would exceed it.
    case quotaExceeded(have: Int, quota: Int, adding: Int)
    /// A per-tenant bound was reached (too many of something held at once).
    case limitReached(String)
    /// The cluster record changed between read and write (retried by the caller).
    case clusterChanged
    /// Nothing stored under that id or name (for this tenant).
    case notFound(String)
    /// A secret could not be sealed or opened.
    case secret(SecretError)
    /// The service was started without a master key but needs secrets.
    case secretsUnavailable

    /// Whether retrying later may succeed (Redis was unreachable).
    package var isRetriable: Bool {
        if case .redis(let error) = self { return error.isRetriable }
        return false
    }

    package var description: String {
        switch self {
        case .redis(let error): "status store (Redis): \(error)"
        case .corrupt(let key, let reason): "stored value \(key) is unreadable (\(reason)); it was not changed"
        case .conflict(let what): what
        case .quotaExceeded(let have, let quota, let adding):
            "the tenant has \(have) of \(quota) machines; \(adding) more would exceed the quota"
        case .limitReached(let what): what
        case .clusterChanged: "the cluster changed while it was being updated; retry"
        case .notFound(let what): what
        case .secret(let error): "\(error)"
        case .secretsUnavailable:
            "this service has no master key: set PAZ_MASTER_KEY_FILE (the same file the gateway uses)"
        }
    }
}
