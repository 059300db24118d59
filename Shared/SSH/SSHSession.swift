package import Logging
import PazConcurrency

/// One authenticated SSH connection (libssh2), for services: run commands and upload files.
///
/// libssh2 blocks and is not thread-safe, so each session owns a ``DedicatedThread`` and every libssh2
/// call runs there; callers just `await`. Several sessions may be used in parallel; calls on one
/// session run one after another. Every operation is bounded by a timeout; after a timeout or a
/// broken connection the session closes itself and later calls throw ``SSHError/sessionClosed(host:port:)``.
package final class SSHSession: Sendable {
    /// The host as given to ``connect(host:port:hostKeyPolicy:credentials:timeouts:logger:)``.
    package let host: String
    /// The TCP port.
    package let port: Int
    /// The user this session is logged in as.
    package let user: String
    /// The host key the server presented: verified against the policy's expected keys, or, with
    /// ``SSHHostKeyPolicy/acceptAnyAndReport``, the key to record.
    package let hostKey: SSHPublicKey
    private let timeouts: Timeouts
    private let thread: DedicatedThread
    private let handle: SessionHandle
    private let logger: Logger

    /// Timeouts of a session.
    package struct Timeouts: Sendable {
        /// TCP connect, SSH handshake and authentication together.
        package var connect: Duration
        /// Default bound for each later operation (exec, upload) — the session timeout.
        package var operation: Duration

        /// `connect` defaults to 10 s, `operation` to 60 s.
        package init(connect: Duration = .seconds(10), operation: Duration = .seconds(60)) {
            self.connect = connect
            self.operation = operation
        }
    }

    private init(host: String, port: Int, user: String, hostKey: SSHPublicKey, timeouts: Timeouts,
                 thread: DedicatedThread, handle: SessionHandle, logger: Logger) {
        self.host = host
        self.port = port
        self.user = user
        self.hostKey = hostKey
        self.timeouts = timeouts
        self.thread = thread
        self.handle = handle
        self.logger = logger
    }

    deinit {
        // Free on the session's own thread; queued jobs finish before the thread ends.
        let handle = self.handle
        thread.execute { handle.free() }
        thread.shutdown()
    }

    /// Connects to `host:port`, verifies the server's host key against `hostKeyPolicy` (refusing a
    /// mismatch before anything is sent), and authenticates with `credentials`.
    ///
    /// The host key algorithms offered to the server are those of the expected keys, so a server with
    /// several host keys presents the one we can verify.
    package static func connect(
        host: String,
        port: Int = 22,
        hostKeyPolicy: SSHHostKeyPolicy,
        credentials: SSHCredentials,
        timeouts: Timeouts = Timeouts(),
        logger: Logger = Logger(label: "paz.ssh")
    ) async throws(SSHError) -> SSHSession {
        var logger = logger
        logger[metadataKey: "ssh.host"] = "\(host)"
        logger[metadataKey: "ssh.port"] = "\(port)"
        logger[metadataKey: "ssh.user"] = "\(credentials.user)"
        let thread = DedicatedThread(name: "ssh \(host):\(port)")
        let limit = timeouts.connect
        let connectLogger = logger
        do throws(SSHError) {
            let (handle, hostKey) = try await run(on: thread, host: host, port: port) { () throws(SSHError) in
                let deadline = OperationDeadline("connect", limit: limit)
                let handle = try SessionHandle(host: host, port: port, hostKeyPreference: hostKeyPolicy.methodPreference,
                                               deadline: deadline)
                let presented = try handle.presentedHostKey()
                switch hostKeyPolicy.kind {
                case .expect(let keys):
                    guard keys.contains(presented) else {
                        connectLogger.warning("host key mismatch", metadata: [
                            "ssh.hostKey.presented": "\(presented.fingerprint)",
                            "ssh.hostKey.expected": "\(keys.map(\.fingerprint).joined(separator: ","))",
                        ])
                        throw .hostKeyMismatch(host: host, port: port, expected: keys.map(\.fingerprint),
                                               presented: presented.fingerprint)
                    }
                case .acceptAnyAndReport:
                    connectLogger.notice("accepting unverified host key (trust on first use)",
                                         metadata: ["ssh.hostKey": "\(presented.description)"])
                }
                try handle.authenticate(credentials, deadline: deadline)
                return (handle, presented)
            }
            logger.debug("SSH session open", metadata: ["ssh.hostKey": "\(hostKey.description)"])
            return SSHSession(host: host, port: port, user: credentials.user, hostKey: hostKey, timeouts: timeouts,
                              thread: thread, handle: handle, logger: logger)
        } catch {
            thread.shutdown()
            logger.debug("SSH connect failed", metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// Runs `command` (through the user's login shell, like `ssh host command`), writing `stdin` to
    /// it, and returns its stdout, stderr and exit status. A non-zero exit is a result, not an error.
    /// Both streams are drained together, so large outputs cannot deadlock. Each stream keeps at most
    /// `outputLimit` bytes (its beginning); what the command writes beyond that is read and dropped, and
    /// ``SSHExecResult/stdoutTruncated`` / ``SSHExecResult/stderrTruncated`` say so — memory stays bounded
    /// whatever the remote side sends, and only `timeout` bounds a command that never stops writing.
    package func exec(
        _ command: String, stdin: [UInt8] = [], timeout: Duration? = nil, outputLimit: Int = SSHExecResult.defaultOutputLimit
    ) async throws(SSHError) -> SSHExecResult {
        let limit = timeout ?? timeouts.operation
        let handle = self.handle
        let result = try await perform { () throws(SSHError) in
            try handle.exec(command, stdin: stdin, outputLimit: max(0, outputLimit), deadline: OperationDeadline("exec", limit: limit))
        }
        logger.debug("SSH exec finished", metadata: [
            "ssh.exitStatus": "\(result.exitStatus)", "ssh.stdoutBytes": "\(result.stdout.count)",
            "ssh.stderrBytes": "\(result.stderr.count)", "ssh.stdoutTruncated": "\(result.stdoutTruncated)",
            "ssh.stderrTruncated": "\(result.stderrTruncated)",
        ])
        return result
    }

    /// Writes `bytes` to `remotePath` over SCP, creating the file with `mode` (the remote umask still
    /// applies to a new file; an existing file keeps its mode). Throws
    /// ``SSHError/uploadRefused(host:port:path:reason:)`` when the server refuses (e.g. permissions).
    package func upload(_ bytes: [UInt8], to remotePath: String, mode: Int32 = 0o644, timeout: Duration? = nil) async throws(SSHError) {
        let limit = timeout ?? timeouts.operation
        let handle = self.handle
        try await perform { () throws(SSHError) in
            try handle.upload(bytes, to: remotePath, mode: mode, deadline: OperationDeadline("upload", limit: limit))
        }
        logger.debug("SSH upload finished", metadata: ["ssh.path": "\(remotePath)", "ssh.bytes": "\(bytes.count)"])
    }

    /// Disconnects and frees the session. Later calls throw ``SSHError/sessionClosed(host:port:)``.
    package func close() async {
        let handle = self.handle
        _ = try? await thread.run { handle.free() }
        thread.shutdown()
    }

    /// Runs an operation on the session's thread; a timeout or broken transport closes the session,
    /// because libssh2's state is undefined after an interrupted operation.
    private func perform<T: Sendable>(_ body: @escaping @Sendable () throws(SSHError) -> T) async throws(SSHError) -> T {
        let handle = self.handle
        return try await Self.run(on: thread, host: host, port: port) { () throws(SSHError) in
            do throws(SSHError) {
                return try body()
            } catch {
                switch error {
                case .timedOut: handle.free()
                case .library where error.isRetriable: handle.free()
                default: break
                }
                throw error
            }
        }
    }

    /// Runs `body` on `thread`, keeping the error typed.
    private static func run<T: Sendable>(
        on thread: DedicatedThread, host: String, port: Int, _ body: @escaping @Sendable () throws(SSHError) -> T
    ) async throws(SSHError) -> T {
        do {
            return try await thread.run { try body() }
        } catch let error as SSHError {
            throw error
        } catch {
            throw .sessionClosed(host: host, port: port)
        }
    }
}
