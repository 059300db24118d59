/// How a ``RedisClient`` connects. Every connection of the pool uses the same settings.
package struct RedisConfiguration: Sendable {
    /// Server address (loopback in this project).
    package var host: String
    /// Server TCP port.
    package var port: Int
    /// ACL user name for `AUTH <user> <password>` (Redis 6+); nil authenticates as the `default` user
    /// (`AUTH <password>`). Shown in logs and errors; the password never is.
    package var username: String?
    /// `AUTH` password, when the server requires one. Never logged, never in error messages.
    package var password: String?
    /// Database number (`SELECT`); 0 is the default database.
    package var database: Int
    /// Bound on establishing a TCP connection.
    package var connectTimeout: Duration
    /// Bound on each read and write of a command (the connection is dropped when it passes).
    /// Keep it above any `BLOCK` time you pass to stream reads.
    package var commandTimeout: Duration
    /// Number of connections, each with its own thread. Concurrent callers share a connection's batches,
    /// so a few connections serve many callers; more than one keeps blocking commands (`BLPOP`,
    /// `XREADGROUP … BLOCK`), which are sent alone, from holding everyone else up.
    package var poolSize: Int
    /// Callers allowed to wait in line (for a connection to take their commands into its next batch)
    /// before ``RedisError/poolExhausted(waiting:)``.
    package var maxWaiters: Int
    /// How long a caller waits in line before ``RedisError/acquireTimeout(address:after:)`` (its command
    /// is not sent).
    package var acquireTimeout: Duration
    /// Re-send an idempotent command once when its connection dropped mid-flight.
    package var retryIdempotent: Bool
    /// After a failed connection attempt, commands fail at once with ``RedisError/unavailable(address:reason:retryIn:)``
    /// for this long; then one command tries to connect. The delay doubles with every failed attempt,
    /// up to ``maxReconnectDelay``.
    package var reconnectDelay: Duration
    /// Cap of the reconnect backoff.
    package var maxReconnectDelay: Duration
    /// With Sentinel: the primary is found (and followed across failovers) through these sentinels,
    /// and ``host``/``port`` are not used.
    package var sentinel: RedisSentinelConfiguration?

    /// Settings with sensible defaults: 2 s connect timeout, 5 s command timeout, 4 connections, 2 s
    /// to wait for one.
    package init(
        host: String = "127.0.0.1",
        port: Int = 6379,
        username: String? = nil,
        password: String? = nil,
        database: Int = 0,
        connectTimeout: Duration = .seconds(2),
        commandTimeout: Duration = .seconds(5),
        poolSize: Int = 4,
        maxWaiters: Int = 10_000,
        acquireTimeout: Duration = .seconds(10),
        retryIdempotent: Bool = true,
        reconnectDelay: Duration = .milliseconds(50),
        maxReconnectDelay: Duration = .seconds(2),
        sentinel: RedisSentinelConfiguration? = nil
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
        self.poolSize = max(1, poolSize)
        self.maxWaiters = maxWaiters
        self.acquireTimeout = acquireTimeout
        self.retryIdempotent = retryIdempotent
        self.reconnectDelay = reconnectDelay
        self.maxReconnectDelay = maxReconnectDelay
        self.sentinel = sentinel
    }

    /// `host:port`, or `user@host:port` with an ACL user, for logs and error messages (never the password).
    /// With Sentinel, the primary's name and the sentinels.
    package var address: String {
        let server = if let sentinel {
            "primary '\(sentinel.masterName)' via sentinels \(sentinel.sentinels.map(\.description).joined(separator: ","))"
        } else {
            "\(host):\(port)"
        }
        return (username.map { "\($0)@" } ?? "") + server
    }
}
