package import PazRedis

/// The lease that makes one status collector of several the poller (docs/control-plane.md, "Status
/// collector replicas"): its holder polls every interval, the others stand by and take it over once
/// it expires or is released.
extension Store {
    /// Takes the poller lease for `instance`, or renews it if `instance` holds it already, for `ttl`.
    /// False when another instance holds it. One round trip.
    package func holdPollerLease(instance: String, ttl: Duration) async throws(StoreError) -> Bool {
        let milliseconds = Int(ttl.components.seconds) * 1000 + Int(ttl.components.attoseconds / 1_000_000_000_000_000)
        let held = try await run { () async throws(RedisError) in
            try await redis.evaluate(
                Self.holdLeaseScript, keys: [RedisArgument(StoreKeys.pollerLease)],
                arguments: [RedisArgument(instance), RedisArgument(max(1, milliseconds))], idempotent: true)
        }
        return held.integer == 1
    }

    /// Gives the poller lease up if `instance` holds it, so a standby takes over without waiting for
    /// it to expire.
    package func releasePollerLease(instance: String) async throws(StoreError) {
        _ = try await run { () async throws(RedisError) in
            try await redis.evaluate(
                Self.releaseLeaseScript, keys: [RedisArgument(StoreKeys.pollerLease)], arguments: [RedisArgument(instance)],
                idempotent: true)
        }
    }

    /// The instance holding the poller lease, if any.
    package func pollerLeaseHolder() async throws(StoreError) -> String? {
        try await run { () async throws(RedisError) in try await redis.get(StoreKeys.pollerLease) }
            .map { String(decoding: $0, as: UTF8.self) }
    }

    /// KEYS[1] lease; ARGV instance, ttl in milliseconds. 1 when held by the instance afterwards.
    static let holdLeaseScript = RedisScript("""
        local holder = redis.call('GET', KEYS[1])
        if holder == ARGV[1] then
          redis.call('PEXPIRE', KEYS[1], ARGV[2])
          return 1
        end
        if holder then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 1
        """)

    /// KEYS[1] lease; ARGV instance.
    static let releaseLeaseScript = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)
}
