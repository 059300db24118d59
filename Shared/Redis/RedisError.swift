/// Everything that can go wrong talking to Redis. Carries hiredis's error code and message where
/// hiredis reported the failure. Never contains the password or command arguments.
package enum RedisError: Error, CustomStringConvertible, Sendable {
    /// No connection could be made (TCP connect, `SELECT`): the command was not sent.
    case connectionFailed(address: String, code: Int32, message: String)
    /// The server refused `AUTH`: the configured user name or password is wrong or missing.
    case authenticationFailed(address: String, message: String)
    /// The connection broke while the command was in flight (EOF, I/O error): it may or may not have
    /// run. The connection is replaced on next use.
    case connectionLost(address: String, code: Int32, message: String)
    /// No reply within the command timeout; the connection was dropped. The command may have run.
    case timeout(address: String, after: Duration)
    /// Redis answered with an error reply (`ERR …`, `WRONGTYPE …`, `NOSCRIPT …`).
    case server(String)
    /// hiredis could not parse the stream, or a reply did not have the shape its command promises.
    case protocolError(String)
    /// All connections are busy and ``RedisConfiguration/maxWaiters`` callers already wait.
    case poolExhausted(waiting: Int)
    /// No connection came free within ``RedisConfiguration/acquireTimeout``: the command was not sent.
    case acquireTimeout(address: String, after: Duration)
    /// Redis is known to be unreachable (the last connection attempt failed with `reason`): the command
    /// was not sent. The client tries to connect again after `retryIn` (one caller at a time).
    case unavailable(address: String, reason: String, retryIn: Duration)
    /// The calling task was cancelled while waiting for a connection: the command was not sent.
    case cancelled
    /// The client was closed.
    case closed

    /// hiredis's error code (`REDIS_ERR_IO` = 1, `REDIS_ERR_OTHER` = 2, `REDIS_ERR_EOF` = 3,
    /// `REDIS_ERR_PROTOCOL` = 4, `REDIS_ERR_OOM` = 5), when hiredis reported the failure.
    package var code: Int32? {
        switch self {
        case .connectionFailed(_, let code, _), .connectionLost(_, let code, _): code
        default: nil
        }
    }

    /// The first word of a server error reply (`WRONGTYPE`, `NOSCRIPT`, `BUSYGROUP`…), else nil.
    package var serverErrorCode: String? {
        guard case .server(let message) = self else { return nil }
        return message.split(separator: " ", maxSplits: 1).first.map(String.init)
    }

    /// True when trying again later may succeed (the server is back, loading, or less busy).
    /// For ``connectionLost(address:code:message:)`` and ``timeout(address:after:)`` the command may
    /// already have run: only re-send it if it is idempotent.
    package var isRetriable: Bool {
        switch self {
        case .connectionFailed, .connectionLost, .timeout, .poolExhausted, .acquireTimeout, .unavailable: true
        case .server: ["LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN"].contains(serverErrorCode ?? "")
        case .authenticationFailed, .protocolError, .cancelled, .closed: false
        }
    }

    package var description: String {
        switch self {
        case .connectionFailed(let address, let code, let message):
            "could not connect to Redis at \(address) (hiredis error \(code): \(message)); "
                + "check that redis-server runs and listens there, and the configured host, port and database"
        case .authenticationFailed(let address, let message):
            "Redis at \(address) refused AUTH (\(message)); check the configured Redis user name and password"
        case .connectionLost(let address, let code, let message):
            "connection to Redis at \(address) was lost during a command (hiredis error \(code): \(message)); "
                + "the command may or may not have run; the connection is re-established on next use"
        case .timeout(let address, let after):
            "Redis at \(address) did not answer within \(after); the command may have run. "
                + "Check the server's load (SLOWLOG) or raise the command timeout"
        case .server(let message):
            "Redis replied with an error: \(message)"
        case .protocolError(let message):
            "unexpected reply from Redis: \(message)"
        case .poolExhausted(let waiting):
            "all Redis connections are busy and \(waiting) callers are already waiting; "
                + "raise the pool size or reduce concurrency"
        case .acquireTimeout(let address, let after):
            "no connection to Redis at \(address) came free within \(after) (all are busy with slow commands); "
                + "the command was not sent. Raise the pool size or the acquire timeout, or reduce concurrency"
        case .unavailable(let address, let reason, let retryIn):
            "Redis at \(address) is unreachable (last attempt: \(reason)); the command was not sent. "
                + "The client tries to reconnect in \(retryIn); retry later"
        case .cancelled:
            "the task was cancelled while waiting for a Redis connection; the command was not sent"
        case .closed:
            "the Redis client was closed"
        }
    }
}
