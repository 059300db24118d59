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
    private let ownsDirectory: Bool
    private let slot = ProcessSlot()

    /// Starts a sentinel watching the primary on `127.0.0.1:primaryPort` and waits until it answers PING.
    /// `port` defaults to a free one; `directory` (config and log) to a scratch directory, which
    /// ``stop()`` removes. The config is written anew: the sentinel learns replicas and other
    /// sentinels again from the primary.
    package static func start(
        primaryPort: Int, options: Options, port: Int? = nil, directory: URL? = nil
    ) async throws(LocalServerError) -> RedisSentinelServer {
        let chosenPort = if let port { port } else { try LoopbackNetwork.freePort() }
        let chosenDirectory = if let directory { directory } else { try ScratchDirectory.make(prefix: "paz-sentinel") }
        let server = RedisSentinelServer(port: chosenPort, directory: chosenDirectory, ownsDirectory: directory == nil)
        try server.writeConfiguration(primaryPort: primaryPort, options: options)
        try await server.launch()
        return server
    }

    private init(port: Int, directory: URL, ownsDirectory: Bool) {
        self.port = port
        self.directory = directory
        self.ownsDirectory = ownsDirectory
    }

    /// The port of the primary the sentinel on `127.0.0.1:sentinelPort` names for `masterName`
    /// (`SENTINEL get-master-addr-by-name`); nil when it cannot be asked or knows none.
    package static func primaryPort(sentinelPort: Int, masterName: String) -> Int? {
        guard let reply = RedisWire.exchange(
            host: "127.0.0.1", port: sentinelPort, password: nil, command: ["SENTINEL", "get-master-addr-by-name", masterName],
            until: { $0.hasPrefix("*-1") || $0.hasPrefix("-") || $0.split(separator: "\r\n").count >= 5 })
        else { return nil }
        // *2 $9 127.0.0.1 $<n> <port>
        let lines = reply.split(separator: "\r\n")
        guard lines.count >= 5, lines[0] == "*2" else { return nil }
        return Int(lines[4])
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
        if ownsDirectory { try? FileManager.default.removeItem(at: directory) }
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
