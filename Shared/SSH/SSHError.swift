internal import CLibSSH2

/// Everything that can go wrong in ``SSHSession``. Descriptions say what happened and what to check.
package enum SSHError: Error, Sendable, CustomStringConvertible {
    /// A key or key line could not be parsed or used.
    case invalidKey(String)
    /// The host name did not resolve.
    case resolveFailed(host: String, reason: String)
    /// Nothing listens on `host:port` (TCP RST).
    case connectionRefused(host: String, port: Int)
    /// The TCP connection failed for another reason (`errno`).
    case connectFailed(host: String, port: Int, errno: Int32, reason: String)
    /// `operation` did not finish within `after`.
    case timedOut(operation: String, host: String, port: Int, after: Duration)
    /// The server presented a host key that is not the expected one; nothing was sent to it.
    case hostKeyMismatch(host: String, port: Int, expected: [String], presented: String)
    /// The server did not accept the key for `user`.
    case authenticationFailed(user: String, host: String, port: Int, code: Int32, message: String)
    /// libssh2 reported an error during `operation` (its code and message).
    case library(operation: String, host: String, port: Int, code: Int32, message: String)
    /// The server refused or failed to store an uploaded file (permissions, missing directory, no `scp`).
    case uploadRefused(host: String, port: Int, path: String, reason: String)
    /// The session was closed (by ``SSHSession/close()`` or after a timeout/transport error).
    case sessionClosed(host: String, port: Int)
    /// ``SSHSession/waitUntilReady(host:port:hostKeyPolicy:credentials:deadline:connectTimeout:logger:)``
    /// gave up at its deadline; `lastError` is what the final attempt saw, or sshd's refusal (host key,
    /// login) when only timeouts followed it.
    indirect case notReady(host: String, port: Int, attempts: Int, waited: Duration, lastError: SSHError)

    /// The libssh2 error code, where libssh2 reported one.
    package var libssh2Code: Int32? {
        switch self {
        case .authenticationFailed(_, _, _, let code, _), .library(_, _, _, let code, _): code
        case .notReady(_, _, _, _, let last): last.libssh2Code
        default: nil
        }
    }

    /// True when trying again later may succeed (the server is starting, the network is slow, the
    /// key may not be installed yet). A host-key mismatch or a malformed key never is.
    package var isRetriable: Bool {
        switch self {
        case .invalidKey, .hostKeyMismatch, .uploadRefused: false
        case .resolveFailed, .connectionRefused, .connectFailed, .timedOut, .authenticationFailed,
             .sessionClosed, .notReady: true
        case .library(_, _, _, let code, _):
            // Transport-level failures; protocol/usage errors are permanent.
            [LIBSSH2_ERROR_SOCKET_SEND, LIBSSH2_ERROR_SOCKET_RECV, LIBSSH2_ERROR_SOCKET_DISCONNECT,
             LIBSSH2_ERROR_TIMEOUT, LIBSSH2_ERROR_BANNER_RECV, LIBSSH2_ERROR_KEX_FAILURE,
             LIBSSH2_ERROR_CHANNEL_FAILURE].contains(code)
        }
    }

    package var description: String {
        switch self {
        case .invalidKey(let reason):
            "invalid SSH key: \(reason)"
        case .resolveFailed(let host, let reason):
            "could not resolve \(host): \(reason)"
        case .connectionRefused(let host, let port):
            "connection refused by \(host):\(port): is sshd running and listening on that address and port?"
        case .connectFailed(let host, let port, let errno, let reason):
            "could not connect to \(host):\(port): \(reason) (errno \(errno))"
        case .timedOut(let operation, let host, let port, let after):
            "\(operation) with \(host):\(port) timed out after \(after.formattedSeconds)"
        case .hostKeyMismatch(let host, let port, let expected, let presented):
            "host key mismatch for \(host):\(port): expected \(expected.joined(separator: " or ")), got \(presented)"
                + " — refusing to log in (the machine was replaced or someone is intercepting the connection)"
        case .authenticationFailed(let user, let host, let port, let code, let message):
            "authentication failed for user \(user) at \(host):\(port): the server did not accept the key"
                + " (check the user's authorized keys or certificate trust; libssh2 \(code): \(message))"
        case .library(let operation, let host, let port, let code, let message):
            "\(operation) with \(host):\(port) failed: \(message) (libssh2 error \(code))"
        case .uploadRefused(let host, let port, let path, let reason):
            "\(host):\(port) refused the upload to \(path): \(reason)"
        case .sessionClosed(let host, let port):
            "the SSH session to \(host):\(port) is closed; connect again"
        case .notReady(let host, let port, let attempts, let waited, let lastError):
            "SSH on \(host):\(port) was not ready after \(waited.formattedSeconds) (\(attempts) attempts);"
                + " last error: \(lastError)"
        }
    }
}

extension Duration {
    /// Whole milliseconds (rounded down).
    var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }

    /// "2.5 s" / "250 ms", for messages.
    var formattedSeconds: String {
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        return "\(Double(milliseconds) / 1000) s"
    }
}
