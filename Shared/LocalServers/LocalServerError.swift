/// Why a local server (Redis, RabbitMQ, sshd) could not be started or reached.
package enum LocalServerError: Error, CustomStringConvertible {
    /// The program is not installed.
    case missingExecutable(String)
    /// The program could not be launched.
    case launchFailed(String, String)
    /// The server did not accept connections in time; carries the end of its log.
    case notReady(server: String, address: String, logTail: String)
    /// A file or directory could not be prepared.
    case filesystem(String)
    /// A helper command (ssh-keygen, chown, useradd…) failed.
    case commandFailed(String, status: Int32, output: String)
    /// A setting given to the server is unusable (says which and why).
    case invalidSetting(String)
    /// A request to a running server's own API failed or was refused (moto's `/moto-api/…`, IAM setup).
    case requestFailed(server: String, request: String, reason: String)

    package var description: String {
        switch self {
        case .missingExecutable(let name):
            "\(name) is not installed: install it (see .ci/run for the Debian packages) and try again"
        case .launchFailed(let path, let reason):
            "could not launch \(path): \(reason)"
        case .notReady(let server, let address, let logTail):
            "\(server) did not accept connections on \(address) in time. Last log lines:\n\(logTail)"
        case .filesystem(let reason):
            "file system: \(reason)"
        case .commandFailed(let command, let status, let output):
            "\(command) exited with status \(status): \(output)"
        case .invalidSetting(let reason):
            "invalid setting: \(reason)"
        case .requestFailed(let server, let request, let reason):
            "\(server): \(request) failed: \(reason)"
        }
    }
}
