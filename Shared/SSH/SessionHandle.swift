internal import CLibSSH2
import Foundation

/// libssh2 needs one global `libssh2_init`; a global `let` is initialised once, thread-safely.
private let libraryInitResult: Int32 = libssh2_init(0)

/// When an operation must end, and how to name it in a timeout error.
struct OperationDeadline {
    let operation: String
    let limit: Duration
    let instant: ContinuousClock.Instant

    init(_ operation: String, limit: Duration) {
        self.operation = operation
        self.limit = limit
        self.instant = .now + limit
    }
}

/// Owns one TCP socket and the libssh2 session on it, and frees both.
///
/// `@unchecked Sendable`: libssh2 sessions are not thread-safe, so every method is called only on
/// the session's ``DedicatedThread`` (``SSHSession`` guarantees this); the class is Sendable only so
/// it can be captured by the jobs sent to that thread. The session runs in non-blocking mode: every
/// call that would block returns `LIBSSH2_ERROR_EAGAIN` and we `poll` the socket in the direction
/// libssh2 asks for, until the operation's deadline. That bounds every operation and lets one thread
/// drain stdout and stderr together.
final class SessionHandle: @unchecked Sendable {
    let host: String
    let port: Int
    private var socket: Int32
    private var session: OpaquePointer?

    /// Connects TCP, performs the SSH handshake and returns the handle (not yet authenticated).
    init(host: String, port: Int, hostKeyPreference: String, deadline: OperationDeadline) throws(SSHError) {
        self.host = host
        self.port = port
        guard libraryInitResult == 0 else {
            throw .library(operation: "libssh2_init", host: host, port: port, code: libraryInitResult,
                           message: "libssh2 could not initialise its crypto backend")
        }
        socket = try TCPConnector.connect(host: host, port: port, deadline: deadline)
        // From here on, a throw frees what was made: deinit runs for a fully initialised object.
        guard let session = libssh2_session_init_ex(nil, nil, nil, nil) else {
            throw .library(operation: "session init", host: host, port: port, code: LIBSSH2_ERROR_ALLOC,
                           message: "out of memory")
        }
        self.session = session
        libssh2_session_set_blocking(session, 0)
        if libssh2_session_method_pref(session, LIBSSH2_METHOD_HOSTKEY, hostKeyPreference) != 0 {
            throw libraryError("choosing host key algorithms (\(hostKeyPreference))")
        }
        let socket = self.socket
        // A server without any of the preferred host key types fails here (key exchange failure).
        try check(call(deadline) { libssh2_session_handshake(session, socket) },
                  "SSH handshake (accepting host key types \(hostKeyPreference))")
    }

    deinit {
        free()
    }

    /// The key the server presented in the handshake.
    func presentedHostKey() throws(SSHError) -> SSHPublicKey {
        var length = 0
        var type: Int32 = 0
        guard let session, let pointer = libssh2_session_hostkey(session, &length, &type), length > 0 else {
            throw libraryError("reading the server's host key")
        }
        let blob = pointer.withMemoryRebound(to: UInt8.self, capacity: length) {
            Array(UnsafeBufferPointer(start: $0, count: length))
        }
        return try SSHPublicKey(blob: blob)
    }

    /// Logs in with a private key held in memory.
    func authenticate(_ credentials: SSHCredentials, deadline: OperationDeadline) throws(SSHError) {
        let session = try liveSession()
        let user = credentials.user
        let privateKey = Array(credentials.privateKey.pem.utf8)
        let publicKey = credentials.publicKey.map { Array($0.utf8) } ?? []
        let rc = try call(deadline) {
            privateKey.withUnsafeBufferPointer { privatePointer in
                publicKey.withUnsafeBufferPointer { publicPointer in
                    privatePointer.withMemoryRebound(to: CChar.self) { privateChars in
                        publicPointer.withMemoryRebound(to: CChar.self) { publicChars in
                            libssh2_userauth_publickey_frommemory(
                                session, user, user.utf8.count,
                                publicChars.isEmpty ? nil : publicChars.baseAddress, publicChars.count,
                                privateChars.baseAddress, privateChars.count, "")
                        }
                    }
                }
            }
        }
        guard rc != 0 else { return }
        let (code, message) = lastError()
        switch code {
        case LIBSSH2_ERROR_AUTHENTICATION_FAILED, LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED:
            throw .authenticationFailed(user: user, host: host, port: port, code: code, message: message)
        case LIBSSH2_ERROR_FILE, LIBSSH2_ERROR_METHOD_NOT_SUPPORTED, LIBSSH2_ERROR_KEYFILE_AUTH_FAILED:
            throw .invalidKey("libssh2 could not use the private key for user \(user): \(message) (libssh2 error \(code))")
        default:
            throw .library(operation: "authentication as \(user)", host: host, port: port, code: code, message: message)
        }
    }

    /// Runs `command` on a new channel, feeding `stdin`, and collects both output streams (each up to
    /// `outputLimit` bytes) and the exit status.
    func exec(_ command: String, stdin: [UInt8], outputLimit: Int, deadline: OperationDeadline) throws(SSHError) -> SSHExecResult {
        let session = try liveSession()
        let channel = try openChannel(deadline) { paz_ssh2_channel_open_session(session) }
        defer { freeChannel(channel) }
        let commandBytes = Array(command.utf8)
        try check(call(deadline) {
            commandBytes.withUnsafeBufferPointer { bytes in
                bytes.withMemoryRebound(to: CChar.self) {
                    paz_ssh2_channel_exec(channel, $0.baseAddress, UInt32($0.count))
                }
            }
        }, "starting the remote command")
        return try pump(channel, stdin: stdin, outputLimit: outputLimit, deadline: deadline)
    }

    /// Sends `bytes` as a new file at `remotePath` with `mode`, through the server's `scp -t`.
    func upload(_ bytes: [UInt8], to remotePath: String, mode: Int32, deadline: OperationDeadline) throws(SSHError) {
        let session = try liveSession()
        let channel: OpaquePointer
        do {
            channel = try openChannel(deadline) {
                libssh2_scp_send64(session, remotePath, mode, libssh2_int64_t(bytes.count), 0, 0)
            }
        } catch {
            // libssh2 1.10 drops the sink's message ("scp: …: Permission denied") and says only this.
            guard error.libssh2Code == LIBSSH2_ERROR_SCP_PROTOCOL else { throw error }
            throw .uploadRefused(host: host, port: port, path: remotePath,
                                 reason: "the server's scp could not create the file (check that the directory exists and"
                                     + " the user may write there, and that scp is installed)")
        }
        defer { freeChannel(channel) }
        // The SCP protocol ends a file with one zero byte; the sink then acknowledges and exits.
        let result = try pump(channel, stdin: bytes + [0], outputLimit: SSHExecResult.defaultOutputLimit, deadline: deadline)
        guard result.exitStatus == 0, result.exitSignal == nil else {
            let message = String(decoding: result.stdout + result.stderr, as: UTF8.self)
                .trimmingCharacters(in: CharacterSet(charactersIn: "\u{0}\u{1}\u{2}").union(.whitespacesAndNewlines))
            throw .uploadRefused(host: host, port: port, path: remotePath,
                                 reason: "scp exited with status \(result.exitStatus): \(message.isEmpty ? "no message" : message)")
        }
    }

    /// Says goodbye to the server (best effort) and frees the session and socket. Idempotent.
    func free() {
        guard let session else {
            if socket >= 0 { Foundation.close(socket); socket = -1 }
            return
        }
        // Blocking mode with a short libssh2 timeout, so freeing never hangs on a dead peer.
        libssh2_session_set_blocking(session, 1)
        libssh2_session_set_timeout(session, 1000)
        _ = paz_ssh2_disconnect(session, "closed by paz")
        libssh2_session_free(session)
        self.session = nil
        Foundation.close(socket)
        socket = -1
    }

    var isOpen: Bool { session != nil }

    // MARK: - Channel I/O

    /// Writes `stdin` (then EOF) while reading stdout and stderr, until the remote side closes the
    /// channel; then collects the exit status. Never blocks on one stream while the other fills. Each
    /// stream keeps its first `outputLimit` bytes; the rest is still read (so the command can finish
    /// and report its exit status) but dropped, and the result says so.
    private func pump(
        _ channel: OpaquePointer, stdin: [UInt8], outputLimit: Int, deadline: OperationDeadline
    ) throws(SSHError) -> SSHExecResult {
        var written = 0
        var eofSent = false
        var stdout = CappedOutput(limit: outputLimit)
        var stderr = CappedOutput(limit: outputLimit)
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            guard ContinuousClock.now < deadline.instant else { throw timeout(deadline) }
            var progressed = false
            if written < stdin.count {
                let n = stdin.withUnsafeBufferPointer { bytes in
                    paz_ssh2_channel_write(channel, bytes.baseAddress! + written, bytes.count - written)
                }
                if n > 0 {
                    written += n
                    progressed = true
                } else if n < 0, n != Int(LIBSSH2_ERROR_EAGAIN) {
                    throw libraryError("writing the command's stdin", code: Int32(n))
                }
            } else if !eofSent {
                let rc = libssh2_channel_send_eof(channel)
                if rc == 0 {
                    eofSent = true
                    progressed = true
                } else if rc != LIBSSH2_ERROR_EAGAIN {
                    throw libraryError("closing the command's stdin", code: rc)
                }
            }
            for stream: Int32 in [0, SSH_EXTENDED_DATA_STDERR] {
                while true {
                    let n = buffer.withUnsafeMutableBufferPointer {
                        paz_ssh2_channel_read(channel, stream, $0.baseAddress, $0.count)
                    }
                    if n > 0 {
                        if stream == 0 { stdout.append(buffer[0..<n]) } else { stderr.append(buffer[0..<n]) }
                        progressed = true
                    } else if n == 0 || n == Int(LIBSSH2_ERROR_EAGAIN) {
                        break
                    } else {
                        throw libraryError(stream == 0 ? "reading stdout" : "reading stderr", code: Int32(n))
                    }
                }
            }
            // libssh2_channel_eof stays 0 while unread data for the channel is queued.
            if libssh2_channel_eof(channel) != 0 { break }
            if !progressed { try waitForSocket(deadline) }
        }
        try check(call(deadline) { paz_ssh2_channel_close(channel) }, "closing the channel")
        try check(call(deadline) { libssh2_channel_wait_closed(channel) }, "waiting for the channel to close")
        return SSHExecResult(stdout: stdout.bytes, stderr: stderr.bytes,
                             exitStatus: libssh2_channel_get_exit_status(channel), exitSignal: exitSignal(channel),
                             stdoutTruncated: stdout.dropped > 0, stderrTruncated: stderr.dropped > 0)
    }

    private func exitSignal(_ channel: OpaquePointer) -> String? {
        var name: UnsafeMutablePointer<CChar>?
        var length = 0
        guard libssh2_channel_get_exit_signal(channel, &name, &length, nil, nil, nil, nil) == 0,
              let name, length > 0
        else { return nil }
        defer { libssh2_free(session, name) }
        return String(decoding: UnsafeRawBufferPointer(start: name, count: length), as: UTF8.self)
    }

    /// Opens a channel with a libssh2 call that returns NULL and sets EAGAIN while it would block.
    private func openChannel(_ deadline: OperationDeadline, _ open: () -> OpaquePointer?) throws(SSHError) -> OpaquePointer {
        while true {
            if let channel = open() { return channel }
            let (code, _) = lastError()
            guard code == LIBSSH2_ERROR_EAGAIN else { throw libraryError("opening a channel") }
            try waitForSocket(deadline)
        }
    }

    private func freeChannel(_ channel: OpaquePointer) {
        // After a timeout the session is freed instead (which frees its channels).
        guard let session else { return }
        libssh2_session_set_blocking(session, 1)
        libssh2_session_set_timeout(session, 1000)
        libssh2_channel_free(channel)
        libssh2_session_set_timeout(session, 0)
        libssh2_session_set_blocking(session, 0)
    }

    // MARK: - Non-blocking plumbing

    /// Repeats `body` while it returns `LIBSSH2_ERROR_EAGAIN`, waiting on the socket in between.
    private func call(_ deadline: OperationDeadline, _ body: () -> Int32) throws(SSHError) -> Int32 {
        while true {
            let rc = body()
            guard rc == LIBSSH2_ERROR_EAGAIN else { return rc }
            try waitForSocket(deadline)
        }
    }

    /// Throws the session's last error when `rc` is negative.
    private func check(_ rc: Int32, _ operation: String) throws(SSHError) {
        if rc < 0 { throw libraryError(operation, code: rc) }
    }

    /// Waits until the socket is ready in the direction libssh2 is blocked on, or the deadline passes.
    private func waitForSocket(_ deadline: OperationDeadline) throws(SSHError) {
        let remaining = deadline.instant - .now
        guard remaining > .zero, let session else { throw timeout(deadline) }
        let directions = libssh2_session_block_directions(session)
        var events: Int16 = 0
        if directions & LIBSSH2_SESSION_BLOCK_INBOUND != 0 { events |= Int16(POLLIN) }
        if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events |= Int16(POLLOUT) }
        if events == 0 { events = Int16(POLLIN) }
        var descriptor = pollfd(fd: socket, events: events, revents: 0)
        let milliseconds = Int32(clamping: remaining.milliseconds + 1)
        _ = poll(&descriptor, 1, milliseconds)
    }

    private func timeout(_ deadline: OperationDeadline) -> SSHError {
        .timedOut(operation: deadline.operation, host: host, port: port, after: deadline.limit)
    }

    private func liveSession() throws(SSHError) -> OpaquePointer {
        guard let session else { throw .sessionClosed(host: host, port: port) }
        return session
    }

    /// The session's last error code and message.
    private func lastError() -> (Int32, String) {
        guard let session else { return (LIBSSH2_ERROR_SOCKET_NONE, "session closed") }
        var message: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        let code = libssh2_session_last_error(session, &message, &length, 0)
        guard let message, length > 0 else { return (code, "no message from libssh2") }
        return (code, String(decoding: UnsafeRawBufferPointer(start: message, count: Int(length)), as: UTF8.self))
    }

    private func libraryError(_ operation: String, code: Int32? = nil) -> SSHError {
        let (lastCode, message) = lastError()
        return .library(operation: operation, host: host, port: port, code: code ?? lastCode, message: message)
    }
}

/// One output stream of a command: its first `limit` bytes, and how many more were dropped.
private struct CappedOutput {
    let limit: Int
    var bytes: [UInt8] = []
    var dropped = 0

    mutating func append(_ chunk: ArraySlice<UInt8>) {
        let kept = min(chunk.count, max(0, limit - bytes.count))
        bytes += chunk.prefix(kept)
        dropped += chunk.count - kept
    }
}

/// What a remote command produced.
package struct SSHExecResult: Sendable {
    /// How much of each output stream ``SSHSession/exec(_:stdin:timeout:outputLimit:)`` keeps by default: 1 MiB.
    package static let defaultOutputLimit = 1 << 20

    /// What the command wrote to stdout, up to the exec's output limit.
    package let stdout: [UInt8]
    /// What the command wrote to stderr, up to the exec's output limit.
    package let stderr: [UInt8]
    /// The exit status the server reported (0 when it reported none, e.g. after a signal).
    package let exitStatus: Int32
    /// The signal that ended the command (e.g. `KILL`), if any.
    package let exitSignal: String?
    /// The command wrote more to stdout than the output limit: ``stdout`` is its beginning only.
    package let stdoutTruncated: Bool
    /// The command wrote more to stderr than the output limit: ``stderr`` is its beginning only.
    package let stderrTruncated: Bool

    /// stdout decoded as UTF-8.
    package var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    /// stderr decoded as UTF-8.
    package var stderrText: String { String(decoding: stderr, as: UTF8.self) }
}
