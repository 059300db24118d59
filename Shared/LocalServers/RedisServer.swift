package import Foundation

/// A `redis-server` bound to 127.0.0.1 on a free port, with its data (and AOF) in one directory.
///
/// Used by tests (shared and private instances), by `paz-bench`, and by `paz-machine up`. The server
/// runs in the foreground (`daemonize no`) as our child; ``stop()`` shuts it down cleanly (`SHUTDOWN`:
/// Redis fsyncs the AOF and exits), ``kill()`` simulates a crash, ``restart()`` starts it again on the
/// same port with the same data directory.
package final class RedisServer: Sendable {
    /// How the server is configured.
    package struct Options: Sendable {
        /// Append-only-file persistence (`appendonly yes`, `appendfsync everysec`).
        package var appendOnly: Bool
        /// `requirepass`, when set: the `default` user's password. Written to the config file in the
        /// data directory (mode 0600).
        package var password: String?
        /// ACL users besides `default`, written as `user` lines of the config file (mode 0600).
        package var users: [User]
        /// How long to wait for PONG after launch.
        package var startTimeout: Duration
        /// A replica of the primary on this loopback port (`replicaof 127.0.0.1 <port>`; `masterauth`
        /// is ``password``).
        package var replicaOf: Int?

        /// Defaults: AOF on, no password, no other users, 15 s to start, a primary.
        package init(
            appendOnly: Bool = true, password: String? = nil, users: [User] = [], startTimeout: Duration = .seconds(15),
            replicaOf: Int? = nil
        ) {
            self.appendOnly = appendOnly
            self.password = password
            self.users = users
            self.startTimeout = startTimeout
            self.replicaOf = replicaOf
        }
    }

    /// An ACL user: enabled, with one password and `rules` in `ACL SETUSER` syntax (key patterns,
    /// `+command`, `-@category`…).
    package struct User: Sendable, Hashable {
        package var name: String
        /// Secret: only written to the config file.
        package var password: String
        package var rules: [String]

        package init(name: String, password: String, rules: [String]) {
            self.name = name
            self.password = password
            self.rules = rules
        }
    }

    /// Always 127.0.0.1.
    package let host = "127.0.0.1"
    /// The TCP port, kept across restarts.
    package let port: Int
    /// Where the config, the AOF directory and the log live.
    package let dataDirectory: URL
    /// The options the server was started with.
    package let options: Options
    private let slot = ProcessSlot()

    /// Starts a server with its data in `dataDirectory` (a new scratch directory when nil) on `port`
    /// (a free one when nil) and waits until it answers PING.
    package static func start(
        dataDirectory: URL? = nil, port: Int? = nil, options: Options = Options()
    ) async throws(LocalServerError) -> RedisServer {
        let directory = if let dataDirectory { dataDirectory } else { try ScratchDirectory.make(prefix: "paz-redis") }
        let port = if let port { port } else { try LoopbackNetwork.freePort() }
        let server = RedisServer(port: port, dataDirectory: directory, options: options)
        try server.writeConfiguration()
        try await server.launch()
        return server
    }

    private init(port: Int, dataDirectory: URL, options: Options) {
        self.port = port
        self.dataDirectory = dataDirectory
        self.options = options
    }

    /// The current process (changes on restart), for `FixtureCleanup` and diagnostics.
    package var process: ManagedProcess? { slot.current }

    /// The config file the server reads.
    package var configurationFile: URL { dataDirectory.appendingPathComponent("redis.conf") }

    /// The server's log (stdout and stderr).
    package var logFile: URL { dataDirectory.appendingPathComponent("redis.log") }

    /// Clean shutdown: the `SHUTDOWN` command (Redis fsyncs the AOF and exits), then SIGTERM and SIGKILL
    /// if the process is still there after `timeout`. Returns when the process is gone.
    ///
    /// `SHUTDOWN` rather than SIGTERM first: a child inherits its parent's signal mask, and threads of
    /// a Swift process often block SIGTERM, so the signal may never be delivered.
    package func stop(timeout: Duration = .seconds(10)) async {
        guard let process = slot.take() else { return }
        if process.isRunning && RedisWire.shutdown(host: host, port: port, password: options.password) {
            let deadline = ContinuousClock.now + timeout
            while process.isRunning && ContinuousClock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
        }
        await process.stop(timeout: .seconds(1))
    }

    /// SIGKILL, as in a crash: writes not yet fsynced to the AOF may be lost.
    package func kill() async {
        guard let process = slot.take() else { return }
        await process.kill()
    }

    /// Stops the server if it runs, then starts it again on the same port with the same data.
    package func restart() async throws(LocalServerError) {
        await stop()
        try await launch()
    }

    private func launch() async throws(LocalServerError) {
        try await slot.launch(
            "redis-server", [configurationFile.path], logFile: logFile,
            server: "redis-server", address: "\(host):\(port)", timeout: options.startTimeout
        ) { RedisWire.answersPong(host: host, port: port, password: options.password) }
    }

    private func writeConfiguration() throws(LocalServerError) {
        var lines = [
            "bind 127.0.0.1",
            "port \(port)",
            "protected-mode no",
            "daemonize no",
            "dir \(Self.quoted(dataDirectory.path))",
            "logfile \"\"",
            "save \"\"",
            "appendonly \(options.appendOnly ? "yes" : "no")",
            "appendfsync everysec",
        ]
        if let password = options.password { lines.append("requirepass \(Self.quoted(password))") }
        if let primary = options.replicaOf {
            lines.append("replicaof 127.0.0.1 \(primary)")
            if let password = options.password { lines.append("masterauth \(Self.quoted(password))") }
        }
        for user in options.users {
            guard !user.name.isEmpty, user.name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else {
                throw .invalidSetting("Redis user name '\(user.name)': use letters, digits, '-' and '_'")
            }
            let rules = ["on", ">" + user.password] + user.rules
            lines.append("user \(user.name) " + rules.map(Self.quoted).joined(separator: " "))
        }
        let text = lines.joined(separator: "\n") + "\n"
        let created = FileManager.default.createFile(
            atPath: configurationFile.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600]
        )
        guard created else { throw .filesystem("could not write \(configurationFile.path)") }
    }

    /// A config-file string in double quotes (Redis understands `\"` and `\\` escapes in them).
    static func quoted(_ value: String) -> String {
        "\"" + value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// One-shot exchanges with Redis over a raw loopback socket (PazLocalServers does not link hiredis).
enum RedisWire {
    /// Readiness: Redis answers PONG (it accepts connections while still loading the AOF, answering
    /// `-LOADING`).
    static func answersPong(host: String, port: Int, password: String?) -> Bool {
        guard let reply = exchange(host: host, port: port, password: password, command: ["PING"], until: { $0.contains("PONG") })
        else { return false }
        return reply.contains("+PONG") && !reply.hasPrefix("-")
    }

    /// `SHUTDOWN` (fsyncs the AOF, then exits). Returns false when the server could not be reached.
    static func shutdown(host: String, port: Int, password: String?) -> Bool {
        exchange(host: host, port: port, password: password, command: ["SHUTDOWN"], until: { _ in false }) != nil
    }

    /// Sends `AUTH` (if `password`) and `command`, then reads until `done` holds for what arrived or the
    /// server closes the connection (1 s read timeout). Nil when no connection could be made.
    static func exchange(
        host: String, port: Int, password: String?, command: [String], until done: (String) -> Bool
    ) -> String? {
        guard host.hasPrefix("127."), LoopbackNetwork.canConnect(host: host, port: port) else { return nil }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return nil }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return nil }
        var request = ""
        if let password { request += encode(["AUTH", password]) }
        request += encode(command)
        let bytes = Array(request.utf8)
        guard bytes.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else { return nil }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while !done(String(decoding: received, as: UTF8.self)) {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            received += buffer[..<count]
        }
        return String(decoding: received, as: UTF8.self)
    }

    private static func encode(_ arguments: [String]) -> String {
        "*\(arguments.count)\r\n" + arguments.map { "$\($0.utf8.count)\r\n\($0)\r\n" }.joined()
    }
}
