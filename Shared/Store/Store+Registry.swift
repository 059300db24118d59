package import PazSchemas
import PazRedis

extension Store {
    /// Announces a live driver instance; the entry expires unless renewed within its TTL.
    package func announce(_ announcement: DriverAnnouncement) async throws(StoreError) {
        let key = StoreKeys.registry(driver: announcement.name.rawValue, instance: announcement.instanceId)
        let json = try encode(announcement)
        _ = try await run { () async throws(RedisError) in
            try await redis.set(key, RedisArgument(json), expiresIn: .seconds(announcement.ttlSeconds))
        }
    }

    /// Removes an instance's entry (on clean shutdown).
    package func withdraw(driver: ResourceName, instance: String) async throws(StoreError) {
        _ = try await run { () async throws(RedisError) in
            try await redis.delete([StoreKeys.registry(driver: driver.rawValue, instance: instance)])
        }
    }

    /// Every live driver instance (entries whose TTL has not run out).
    package func liveDrivers() async throws(StoreError) -> [DriverAnnouncement] {
        let keys = try await run { () async throws(RedisError) in
            try await redis.scanKeys(matching: StoreKeys.registryPattern)
        }
        guard !keys.isEmpty else { return [] }
        let values = try await run { () async throws(RedisError) in
            try await redis.command(["MGET"] + keys.map { RedisArgument($0) })
        }
        var drivers: [DriverAnnouncement] = []
        for (key, value) in zip(keys, values.array ?? []) {
            guard let json = value.string else { continue }  // expired between SCAN and MGET
            drivers.append(try decode(DriverAnnouncement.self, from: json, key: key))
        }
        return drivers.sorted { ($0.name.rawValue, $0.instanceId) < ($1.name.rawValue, $1.instanceId) }
    }
}
