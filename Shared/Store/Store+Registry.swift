import Foundation
package import PazSchemas
import PazRedis

/// The driver registry: each live instance's ``PazSchemas/DriverAnnouncement`` in its own key with a
/// TTL (written only by that driver), and one sorted set of every instance scored by when its entry
/// expires, so that finding the live drivers is one read of the set's live end, not a keyspace scan.
extension Store {
    /// Announces a live driver instance; the entry expires unless renewed within its TTL. Drops
    /// instances whose entries expired from the index on the way.
    package func announce(_ announcement: DriverAnnouncement) async throws(StoreError) {
        let member = Self.registryMember(driver: announcement.name.rawValue, instance: announcement.instanceId)
        let json = try encode(announcement)
        let now = Self.unixMilliseconds(Date())
        try await pipelineChecked([
            ["SET", RedisArgument(StoreKeys.registryRoot + member), RedisArgument(json),
             "EX", RedisArgument(announcement.ttlSeconds)],
            ["ZADD", RedisArgument(StoreKeys.registryIndex), RedisArgument(Int(now) + announcement.ttlSeconds * 1000),
             RedisArgument(member)],
            ["ZREMRANGEBYSCORE", RedisArgument(StoreKeys.registryIndex), "-inf", RedisArgument("(\(now)")],
        ])
    }

    /// Removes an instance's entry (on clean shutdown).
    package func withdraw(driver: ResourceName, instance: String) async throws(StoreError) {
        let member = Self.registryMember(driver: driver.rawValue, instance: instance)
        try await pipelineChecked([
            ["ZREM", RedisArgument(StoreKeys.registryIndex), RedisArgument(member)],
            ["DEL", RedisArgument(StoreKeys.registryRoot + member)],
        ])
    }

    /// Every live driver instance (entries whose TTL has not run out), in one round trip.
    package func liveDrivers() async throws(StoreError) -> [DriverAnnouncement] {
        let reply = try await run { () async throws(RedisError) in
            try await redis.evaluate(
                Self.liveEntriesScript, keys: [RedisArgument(StoreKeys.registryIndex)],
                arguments: [RedisArgument(Int(Self.unixMilliseconds(Date()))), RedisArgument(StoreKeys.registryRoot)])
        }
        var drivers: [DriverAnnouncement] = []
        for value in reply.array ?? [] {
            guard let json = value.string else { continue }  // expired since it was indexed
            drivers.append(try announcementCache.value(for: json) { (json) throws(StoreError) in
                try decode(DriverAnnouncement.self, from: json, key: StoreKeys.registryIndex)
            })
        }
        return drivers.sorted { ($0.name.rawValue, $0.instanceId) < ($1.name.rawValue, $1.instanceId) }
    }

    /// `<driver>:<instance>`: the index member, and the entry's key after ``StoreKeys/registryRoot``.
    private static func registryMember(driver: String, instance: String) -> String { "\(driver):\(instance)" }

    private static func unixMilliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    /// KEYS[1] the index; ARGV[1] now (unix ms), ARGV[2] the entries' key prefix. The entries of
    /// every member not expired yet (nil for an entry gone meanwhile).
    static let liveEntriesScript = RedisScript("""
        local members = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
        if #members == 0 then return {} end
        local keys = {}
        for i, member in ipairs(members) do keys[i] = ARGV[2] .. member end
        return redis.call('MGET', unpack(keys))
        """)
}
