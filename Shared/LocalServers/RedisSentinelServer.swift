package import Foundation

/// A Redis Sentinel (`redis-server <conf> --sentinel`) bound to 127.0.0.1 on a free port, monitoring
/// one primary on loopback. Sentinel rewrites its config file as it learns replicas, other sentinels
/// and failovers, so the file lives in the sentinel's own directory.
package final class RedisSentinelServer: Sendable {
    /// How the sentinel watches the primary.
    package struct Options: Sendable {
        /// The name the primary is monitored under (`sentinel monitor <name> …`).
        package var masterName: String
        /// Sentinels that must agree the primary is down before a failover.
        package var quorum: Int
        /// Silence after which the primary is considered down (`down-after-milliseconds`).
        package var downAfter: Duration
        /// `failover-timeout`: also how long before the same primary may be failed over again.
        package var failoverTimeout: Duration
        /// The primary's `requirepass` (`sentinel auth-pass`), when it has one.
        package var primaryPassword: String?

        /// Defaults: quorum 2, down after 1 s, failover timeout 10 s.
        package init(
            masterName: String, quorum: Int = 2, downAfter: Duration = .seconds(1), failoverTimeout: Duration = .seconds(10),
            primaryPassword: String? = nil
        ) {
            self.masterName = masterName
            self.quorum = quorum
            self.downAfter = downAfter
            self.failoverTimeout = failoverTimeout
            self.primaryPassword = primaryPassword
        }
    }

    /// Always 127.0.0.1.
    package let host = "127.0.0.1"
    package let port: Int
    package let directory: URL
    private let slot = ProcessSlot()

    /// Starts a sentinel watching the primary on `127.0.0.1:primaryPort` and waits until it answers PING.
    package static func start(primaryPort: Int, options: Options) async throws(LocalServerError) -> RedisSentinelServer {
        let directory = try ScratchDirectory.make(prefix: "paz-sentinel")
        let server = RedisSentinelServer(port: try LoopbackNetwork.freePort(), directory: directory)
        try server.writeConfiguration(primaryPort: primaryPort, options: options)
        try await server.launch()
        return server
    }

    private init(port: Int, directory: URL) {
        self.port = port
        self.directory = directory
    }

    /// The current process, for `FixtureCleanup` and diagnostics.
    package var process: ManagedProcess? { slot.current }

    private var configurationFile: URL { directory.appendingPathComponent("sentinel.conf") }

    /// Stops the sentinel (`SHUTDOWN`, then signals) and removes its directory.
    package func stop() async {
        if let process = slot.take() {
            if process.isRunning { _ = RedisWire.shutdown(host: host, port: port, password: nil) }
            await process.stop(timeout: .seconds(2))
        }
        try? FileManager.default.removeItem(at: directory)
    }

    private func launch() async throws(LocalServerError) {
        try await slot.launch(
            "redis-server", [configurationFile.path, "--sentinel"], logFile: directory.appendingPathComponent("sentinel.log"),
            server: "redis-sentinel", address: "\(host):\(port)", timeout: .seconds(15)
        ) { RedisWire.answersPong(host: host, port: port, password: nil) }
    }

    private func writeConfiguration(primaryPort: Int, options: Options) throws(LocalServerError) {
        guard !options.masterName.isEmpty, options.masterName.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" })
        else {
            throw .invalidSetting("sentinel master name '\(options.masterName)': use letters, digits, '-' and '_'")
        }
        let name = options.masterName
        var lines = [
            "bind 127.0.0.1",
            "port \(port)",
            "protected-mode no",
            "daemonize no",
            "dir \(RedisServer.quoted(directory.path))",
            "logfile \"\"",
            // Sentinels and replicas announce themselves with the address they were reached on: loopback.
            "sentinel resolve-hostnames no",
            "sentinel monitor \(name) 127.0.0.1 \(primaryPort) \(options.quorum)",
            "sentinel down-after-milliseconds \(name) \(Self.milliseconds(options.downAfter))",
            "sentinel failover-timeout \(name) \(Self.milliseconds(options.failoverTimeout))",
            "sentinel parallel-syncs \(name) 1",
        ]
        if let password = options.primaryPassword { lines.append("sentinel auth-pass \(name) \(RedisServer.quoted(password))") }
        let text = lines.joined(separator: "\n") + "\n"
        let created = FileManager.default.createFile(
            atPath: configurationFile.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
        guard created else { throw .filesystem("could not write \(configurationFile.path)") }
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.components.seconds) * 1000 + Int(duration.components.attoseconds / 1_000_000_000_000_000)
    }
}
