package import PazRedis
package import PazSchemas
import PazStore

/// The lease of the one command that may act on a machine at a time, across every replica of
/// every driver (Redis `SET NX PX` under a fencing number).
///
/// A command takes the lease before it touches its machine and renews it while it runs; a command
/// that finds the lease taken is deferred. The lease's ``Token`` carries a number that grows with
/// every lease taken (the fencing token); the journal writes of a command are checked against it,
/// so a command that lost its lease can no longer record anything. When the lease cannot be
/// renewed, the command running under it is cancelled (``DriverService`` does that).
package struct MachineLease: Sendable {
    /// A held lease: `<fence>:<owner>`, the value of the lease key.
    package struct Token: Sendable, Hashable, CustomStringConvertible {
        package let value: String
        /// The fencing number (higher = taken later).
        package var fence: Int { Int(value.prefix { $0 != ":" }) ?? 0 }
        package var description: String { value }
    }

    let redis: RedisClient
    let key: String
    /// How long a lease lives without renewal.
    let ttl: Duration

    /// The lease of `machine` of `tenant`.
    package init(redis: RedisClient, tenant: TenantID, machine: MachineID, ttl: Duration) {
        self.redis = redis
        self.key = StoreKeys.lease(tenant, machine)
        self.ttl = ttl
    }

    /// Takes the lease for `owner`; nil when another command holds it.
    package func acquire(owner: String) async throws(RedisError) -> Token? {
        let reply = try await redis.evaluate(
            Self.acquireScript, keys: [RedisArgument(key), RedisArgument(StoreKeys.leaseFence)],
            arguments: [RedisArgument(owner), RedisArgument(milliseconds)])
        return reply.string.map(Token.init(value:))
    }

    /// Extends the lease by its ttl; false when it is no longer `token`'s (expired, or taken by another).
    package func renew(_ token: Token) async throws(RedisError) -> Bool {
        let reply = try await redis.evaluate(
            Self.renewScript, keys: [RedisArgument(key)], arguments: [RedisArgument(token.value), RedisArgument(milliseconds)])
        return reply.integer == 1
    }

    /// Gives the lease up if it is still `token`'s.
    package func release(_ token: Token) async throws(RedisError) {
        _ = try await redis.evaluate(Self.releaseScript, keys: [RedisArgument(key)], arguments: [RedisArgument(token.value)])
    }

    private var milliseconds: Int {
        let (seconds, attoseconds) = ttl.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }

    static let acquireScript = RedisScript("""
        if redis.call('EXISTS', KEYS[1]) == 1 then return false end
        local token = redis.call('INCR', KEYS[2]) .. ':' .. ARGV[1]
        redis.call('SET', KEYS[1], token, 'PX', ARGV[2])
        return token
        """)

    static let renewScript = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        return 0
        """)

    static let releaseScript = RedisScript("""
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
        return 0
        """)
}
