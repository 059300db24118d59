package import Foundation
import Synchronization

/// Where RabbitMQ users are managed: one node, or a cluster (users are cluster-wide).
package protocol RabbitMQUsers: Sendable {
    /// Creates `users` (or updates their passwords and permissions).
    func putUsers(_ users: [RabbitMQServer.User]) async throws(LocalServerError)
    /// Deletes a user; deleting a missing one is no error.
    func deleteUser(_ name: String) async throws(LocalServerError)
}

/// A `rabbitmq-server` (Debian 3.10) on free 127.0.0.1 ports with all of its state in one directory.
///
/// The node gets a unique name, its own `epmd` (on a private port, started and stopped here), no plugins
/// (so no management listener) and listeners bound to 127.0.0.1 only. When this program runs as root the
/// broker runs as the `rabbitmq` user (via `setpriv`), with the data directory chowned to it.
/// Readiness means the AMQP port answers a real AMQP 0-9-1 protocol header with `connection.start`.
package final class RabbitMQServer: RabbitMQUsers {
    /// Always 127.0.0.1.
    package let host = "127.0.0.1"
    /// The AMQP port.
    package let port: Int
    /// The default user of a fresh node (RabbitMQ only accepts it from loopback).
    package let user = "guest"
    /// The default user's password.
    package let password = "guest"
    /// The Erlang node name (`paz-<pid>-<random>@localhost`), chosen when the data directory is new and
    /// kept in it (file `node-name`): mnesia keeps a node's data under its name, so a restart on the
    /// same directory must use the same one to find its queues and messages again.
    package let nodeName: String
    /// Where mnesia, logs, the pid file and the Erlang cookie live.
    package let dataDirectory: URL

    /// True when ``start(dataDirectory:port:readyTimeout:)`` made the directory (then ``stop()`` removes it).
    private let ownsDirectory: Bool
    /// The broker's environment; its `RABBITMQ_DIST_PORT` changes when another program took that port.
    private let environmentState: Mutex<[String: String]>
    private var environment: [String: String] { environmentState.withLock { $0 } }
    private let launchArguments: [String]
    private let launchExecutable: String
    /// The node's own epmd; nil when it shares its cluster's (``RabbitMQCluster`` owns that one).
    private let epmd: ManagedProcess?
    private let broker: Mutex<ManagedProcess?>

    /// Starts a node. `dataDirectory` defaults to a new scratch directory; `port` to a free port.
    package static func start(
        dataDirectory: URL? = nil, port: Int? = nil, readyTimeout: Duration = .seconds(120)
    ) async throws(LocalServerError) -> RabbitMQServer {
        let directory: URL
        if let dataDirectory { directory = dataDirectory } else { directory = try ScratchDirectory.make(prefix: "paz-rabbitmq") }
        let amqpPort: Int
        if let port { amqpPort = port } else { amqpPort = try LoopbackNetwork.freePort() }
        let server = try RabbitMQServer(
            dataDirectory: directory,
            port: amqpPort,
            ownsDirectory: dataDirectory == nil,
            distributionPort: LoopbackNetwork.freePort(),
            portMapper: .own(port: LoopbackNetwork.freePort())
        )
        do {
            try await server.launch(readyTimeout: readyTimeout)
        } catch {
            await server.stop()
            throw error
        }
        return server
    }

    /// Where a node registers its name: an epmd of its own (started and stopped with it), or one its
    /// cluster shares, with the Erlang cookie every node of the cluster must present.
    enum PortMapper {
        case own(port: Int)
        case shared(port: Int, cookie: String)

        var port: Int {
            switch self {
            case .own(let port), .shared(let port, _): port
            }
        }
    }

    /// A node of a cluster (``RabbitMQCluster``), not started: it registers with the cluster's epmd and
    /// carries its cookie; ``restart(readyTimeout:)`` launches it.
    static func clusterNode(dataDirectory: URL, port: Int, epmdPort: Int, cookie: String) throws(LocalServerError) -> RabbitMQServer {
        try RabbitMQServer(
            dataDirectory: dataDirectory, port: port, ownsDirectory: false, distributionPort: LoopbackNetwork.freePort(),
            portMapper: .shared(port: epmdPort, cookie: cookie))
    }

    private init(
        dataDirectory: URL, port: Int, ownsDirectory: Bool, distributionPort: Int, portMapper: PortMapper
    ) throws(LocalServerError) {
        self.port = port
        self.ownsDirectory = ownsDirectory
        self.dataDirectory = dataDirectory
        let path = dataDirectory.path
        self.nodeName = try Self.nodeName(in: dataDirectory)
        for sub in ["mnesia", "log"] {
            do {
                try FileManager.default.createDirectory(
                    atPath: path + "/" + sub, withIntermediateDirectories: true)
            } catch {
                throw .filesystem("could not create \(path)/\(sub): \(error)")
            }
        }
        var files = ["enabled_plugins": "[].\n", "rabbitmq.conf": "", "rabbitmq-env.conf": ""]
        if case .shared(_, let cookie) = portMapper {
            // The CLI and the node read it from HOME; the nodes of a cluster must share it.
            files[".erlang.cookie"] = cookie
        }
        for (name, contents) in files {
            let mode = name == ".erlang.cookie" ? 0o400 : 0o644
            try? FileManager.default.removeItem(atPath: path + "/" + name)
            guard FileManager.default.createFile(
                atPath: path + "/" + name, contents: Data(contents.utf8), attributes: [.posixPermissions: mode])
            else {
                throw .filesystem("could not write \(path)/\(name)")
            }
        }
        environmentState = Mutex([
            "HOME": path,
            "RABBITMQ_NODENAME": nodeName,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": String(port),
            "RABBITMQ_DIST_PORT": String(distributionPort),
            "ERL_EPMD_PORT": String(portMapper.port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": path + "/mnesia",
            "RABBITMQ_LOG_BASE": path + "/log",
            "RABBITMQ_PID_FILE": path + "/rabbitmq.pid",
            "RABBITMQ_ENABLED_PLUGINS_FILE": path + "/enabled_plugins",
            "RABBITMQ_CONFIG_FILE": path + "/rabbitmq.conf",
            "RABBITMQ_CONF_ENV_FILE": path + "/rabbitmq-env.conf",
            // The distribution listener binds to every interface unless told otherwise. The
            // schedulers sleep when out of work instead of spinning (RabbitMQ's advice for hosts
            // shared with other busy processes: here the services and their load generators).
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS":
                "-kernel inet_dist_use_interface {127,0,0,1} +sbwt none +sbwtdcpu none +sbwtdio none",
            // Makes the Debian script exec the Erlang VM (as under systemd) instead of proxying signals
            // from a shell, so the process we start IS the broker: SIGTERM stops it cleanly, SIGKILL
            // crashes it. Nothing listens on this path; the readiness notification is simply dropped.
            "NOTIFY_SOCKET": path + "/notify.sock",
        ])
        let script = "/usr/lib/rabbitmq/bin/rabbitmq-server"
        if getuid() == 0 {
            // The Debian broker expects to run as `rabbitmq`; it must own its state.
            try HelperCommand.run("chown", ["-R", "rabbitmq:rabbitmq", path])
            launchExecutable = "setpriv"
            launchArguments = ["--reuid=rabbitmq", "--regid=rabbitmq", "--init-groups", script]
        } else {
            launchExecutable = script
            launchArguments = []
        }
        if case .own(let epmdPort) = portMapper {
            epmd = try Self.startPortMapper(port: epmdPort, logFile: dataDirectory.appendingPathComponent("epmd.log"))
        } else {
            epmd = nil
        }
        broker = Mutex(nil)
    }

    /// The node name recorded in `directory`, or a new one (recorded there) if it has none.
    private static func nodeName(in directory: URL) throws(LocalServerError) -> String {
        let file = directory.appendingPathComponent("node-name")
        if let data = FileManager.default.contents(atPath: file.path) {
            let name = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !name.isEmpty { return name }
        }
        let name = "paz-\(getpid())-\(UInt32.random(in: 0...UInt32.max))@localhost"
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data((name + "\n").utf8).write(to: file)
        } catch {
            throw .filesystem("could not record the node name in \(file.path): \(error)")
        }
        return name
    }

    /// Starts epmd on `port` of 127.0.0.1.
    static func startPortMapper(port: Int, logFile: URL) throws(LocalServerError) -> ManagedProcess {
        try ManagedProcess(
            executable: "epmd", arguments: ["-port", String(port), "-address", "127.0.0.1"],
            environment: ["ERL_EPMD_ADDRESS": "127.0.0.1"], logFile: logFile)
    }

    /// Every process started for this node (its own epmd, if any, and the broker), for at-exit cleanup.
    package var processes: [ManagedProcess] {
        (epmd.map { [$0] } ?? []) + (broker.withLock { $0 }.map { [$0] } ?? [])
    }

    /// The broker process, while one was launched.
    package var brokerProcess: ManagedProcess? { broker.withLock { $0 } }

    /// Starts the broker again on the same port and data (after ``kill()`` or ``stopBroker()``).
    package func restart(readyTimeout: Duration = .seconds(120)) async throws(LocalServerError) {
        try await launch(readyTimeout: readyTimeout)
    }

    /// Stops the broker gracefully, then its own epmd; removes the data directory if it was a scratch one.
    package func stop() async {
        await stopBroker()
        if let epmd { await Self.terminate(epmd.pid, grace: .zero) }  // stateless; SIGTERM is blocked (see stopBroker)
        if ownsDirectory { try? FileManager.default.removeItem(at: dataDirectory) }
    }

    /// Stops the broker gracefully (`rabbitmqctl stop`) but keeps epmd, so ``restart(readyTimeout:)`` can follow.
    ///
    /// A signal is not enough: the VM inherits a mask with SIGTERM blocked from the Swift thread that
    /// spawns it, so the clean way is the CLI over Erlang distribution. SIGKILL after 30 s at most.
    package func stopBroker() async {
        guard let process = broker.withLock({ $0 }) else { return }
        if let control = try? ManagedProcess(
            executable: "/usr/lib/rabbitmq/bin/rabbitmqctl", arguments: ["-n", nodeName, "stop"],
            environment: environment, logFile: dataDirectory.appendingPathComponent("rabbitmqctl-stop.log"))
        {
            await Self.waitUntilGone(process.pid, timeout: .seconds(30))
            await Self.terminate(control.pid, grace: .zero)
        }
        await Self.terminate(process.pid, grace: .zero)
    }

    /// Kills the Erlang VM with SIGKILL: a crash, no clean shutdown.
    package func kill() async {
        guard let process = broker.withLock({ $0 }) else { return }
        await Self.terminate(process.pid, grace: .zero)
    }

    // MARK: Users

    /// A RabbitMQ user with permissions on the virtual host `/` (regular expressions, as
    /// `rabbitmqctl set_permissions` takes them) and `tags` (none: no management or admin rights).
    package struct User: Sendable, Hashable {
        package var name: String
        /// Secret: written only to a 0600 definitions file that is removed right after the import.
        package var password: String
        package var configure: String
        package var write: String
        package var read: String
        package var tags: [String]

        package init(name: String, password: String, configure: String, write: String, read: String, tags: [String] = []) {
            self.name = name
            self.password = password
            self.configure = configure
            self.write = write
            self.read = read
            self.tags = tags
        }
    }

    /// Creates `users` (or updates their passwords and permissions) with one `rabbitmqctl
    /// import_definitions`: passwords never appear on a command line.
    package func putUsers(_ users: [User]) async throws(LocalServerError) {
        let definitions: [String: Any] = [
            "users": users.map { ["name": $0.name, "password": $0.password, "tags": $0.tags.joined(separator: ",")] },
            "permissions": users.map {
                ["user": $0.name, "vhost": "/", "configure": $0.configure, "write": $0.write, "read": $0.read]
            },
        ]
        let directory = try ScratchDirectory.make(prefix: "paz-rabbitmq-users")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("definitions.json")
        let data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: definitions, options: [.sortedKeys])
        } catch {
            throw .invalidSetting("RabbitMQ users do not encode as JSON: \(error)")
        }
        guard FileManager.default.createFile(atPath: file.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw .filesystem("could not write \(file.path)")
        }
        try await control(["import_definitions", file.path])
    }

    /// Deletes a user (e.g. `guest`, the default user of a fresh node); deleting a missing one is no error.
    package func deleteUser(_ name: String) async throws(LocalServerError) {
        do {
            try await control(["delete_user", name])
        } catch .commandFailed(_, _, let output) where output.contains("does not exist") {
            return
        }
    }

    /// Sets the memory alarm threshold (`rabbitmqctl set_vm_memory_high_watermark`), a fraction of
    /// the machine's memory: `0` raises the memory alarm at once (the broker blocks every publishing
    /// connection), `0.4` is the default. Not persisted: a restart goes back to the default.
    package func setMemoryHighWatermark(_ fraction: Double) async throws(LocalServerError) {
        guard (0...1).contains(fraction) else { throw .invalidSetting("memory high watermark \(fraction) is not in 0...1") }
        try await control(["set_vm_memory_high_watermark", "\(fraction)"])
    }

    // MARK: Clustering

    /// Makes this (fresh, running) node a member of `seed`'s cluster: `stop_app`, `join_cluster`,
    /// `start_app`; returns once it answers AMQP again.
    func join(_ seed: RabbitMQServer, readyTimeout: Duration) async throws(LocalServerError) {
        try await control(["stop_app"])
        try await control(["join_cluster", seed.nodeName])
        try await control(["start_app"], timeout: readyTimeout)
        let deadline = ContinuousClock.now + readyTimeout
        while !Self.answersAMQP(host: host, port: port) {
            guard ContinuousClock.now < deadline else {
                throw .notReady(server: "rabbitmq-server \(nodeName)", address: "\(host):\(port)", logTail: logTail())
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// The names of the cluster's nodes that run, as this node sees them (`rabbitmqctl cluster_status`).
    package func runningNodes() async throws(LocalServerError) -> [String] {
        let output = try await control(["cluster_status", "--formatter", "json"])
        guard let object = try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any],
              let running = object["running_nodes"] as? [String]
        else {
            throw .commandFailed("rabbitmqctl cluster_status", status: 0, output: "unexpected output: \(output.prefix(300))")
        }
        return running.sorted()
    }

    /// The nodes holding a member of quorum queue `queue` (`rabbitmq-queues quorum_status`).
    package func quorumMembers(_ queue: String) async throws(LocalServerError) -> [String] {
        let output = try await control(["quorum_status", queue, "--formatter", "json"], tool: "rabbitmq-queues")
        guard let rows = try? JSONSerialization.jsonObject(with: Data(output.utf8)) as? [[String: Any]] else {
            throw .commandFailed("rabbitmq-queues quorum_status", status: 0, output: "unexpected output: \(output.prefix(300))")
        }
        return rows.compactMap { $0["Node Name"] as? String }.sorted()
    }

    // MARK: CLI

    /// Runs `rabbitmqctl` (or another of the broker's CLI `tool`s) against this node (its name, epmd port
    /// and cookie come from the environment), waits for it to exit 0 (it boots an Erlang VM: about a
    /// second) and returns what it printed.
    ///
    /// Two failures of a node that is up are tried again, every second for 30 s: exit status 69
    /// (EX_UNAVAILABLE: the CLI's own Erlang node could not reach the broker's in time), and "requires
    /// the 'rabbit' app to be running" (the AMQP listener, which ``start`` waits for, opens a moment
    /// before the boot finishes). CI saw both on a loaded machine.
    @discardableResult
    private func control(
        _ arguments: [String], tool: String = "rabbitmqctl", timeout: Duration = .seconds(60)
    ) async throws(LocalServerError) -> String {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            do {
                return try await controlOnce(arguments, tool: tool, timeout: timeout)
            } catch .commandFailed(_, let status, let output)
                where (status == 69 || output.contains("'rabbit' app to be running")) && ContinuousClock.now < deadline
            {
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func controlOnce(_ arguments: [String], tool: String, timeout: Duration) async throws(LocalServerError) -> String {
        let log = dataDirectory.appendingPathComponent("\(tool)-\(arguments[0]).log")
        let process = try ManagedProcess(
            executable: "/usr/lib/rabbitmq/bin/" + tool, arguments: ["-n", nodeName, "--quiet"] + arguments,
            environment: environment, logFile: log)
        let command = tool + " " + arguments.map { $0.hasPrefix("/") ? "<file>" : $0 }.joined(separator: " ")
        guard let status = await process.exitCode(within: timeout) else {
            await process.kill()
            throw .commandFailed(command, status: -1, output: "no exit after \(timeout): " + process.logTail())
        }
        guard status == 0 else { throw .commandFailed(command, status: status, output: process.logTail()) }
        return (try? String(contentsOf: log, encoding: .utf8)) ?? ""
    }

    /// The broker's log tail, for failure messages.
    package func logTail() -> String {
        broker.withLock { $0 }?.logTail(lines: 30) ?? ""
    }

    private func launch(readyTimeout: Duration, retriedDistributionPort: Bool = false) async throws(LocalServerError) {
        let process = try ManagedProcess(
            executable: launchExecutable,
            arguments: launchArguments,
            environment: environment,
            logFile: dataDirectory.appendingPathComponent("rabbitmq-\(Int(Date().timeIntervalSince1970 * 1000)).out"),
            workingDirectory: dataDirectory
        )
        broker.withLock { $0 = process }
        let deadline = ContinuousClock.now + readyTimeout
        while ContinuousClock.now < deadline {
            if !process.isRunning { break }
            if Self.answersAMQP(host: host, port: port) { return }
            try? await Task.sleep(for: .milliseconds(100))
        }
        // The distribution port was free when chosen; another program may have taken it since (a
        // restart much later, or a race with a concurrent free-port pick): once, with a new one.
        if !process.isRunning, !retriedDistributionPort, process.logTail(lines: 200).contains("dist_port_already_used"),
           let fresh = try? LoopbackNetwork.freePort() {
            environmentState.withLock { $0["RABBITMQ_DIST_PORT"] = String(fresh) }
            return try await launch(readyTimeout: readyTimeout, retriedDistributionPort: true)
        }
        // The AMQP port is fixed across restarts, and while the broker was down a client's outgoing
        // connection may have been given it as its local port: wait for that to end.
        let wait = Duration.seconds(1)
        if !process.isRunning, ContinuousClock.now + wait < deadline, process.logTail(lines: 200).contains("eaddrinuse") {
            try? await Task.sleep(for: wait)
            return try await launch(readyTimeout: deadline - .now, retriedDistributionPort: retriedDistributionPort)
        }
        throw .notReady(server: "rabbitmq-server", address: "\(host):\(port)", logTail: process.logTail(lines: 30))
    }

    /// Sends SIGTERM (unless `grace` is zero), waits up to `grace`, then SIGKILL; returns when `pid` is gone.
    private static func terminate(_ pid: pid_t, grace: Duration) async {
        guard isAlive(pid) else { return }
        if grace > .zero {
            _ = Foundation.kill(pid, SIGTERM)
            await waitUntilGone(pid, timeout: grace)
        }
        if isAlive(pid) { _ = Foundation.kill(pid, SIGKILL) }
        await waitUntilGone(pid, timeout: .seconds(10))
    }

    /// Returns when `pid` has exited (or is a zombie), or after `timeout`.
    private static func waitUntilGone(_ pid: pid_t, timeout: Duration) async {
        let deadline = ContinuousClock.now + timeout
        while isAlive(pid) && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// True while `pid` exists and is not a zombie.
    private static func isAlive(_ pid: pid_t) -> Bool {
        guard Foundation.kill(pid, 0) == 0 else { return false }
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")")
        else { return false }
        return !stat[close...].dropFirst(2).hasPrefix("Z")
    }

    /// True when `host:port` answers the AMQP 0-9-1 protocol header with a method frame on channel 0.
    private static func answersAMQP(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var timeout = timeval(tv_sec: 2, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return false }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { return false }
        let header: [UInt8] = [0x41, 0x4D, 0x51, 0x50, 0, 0, 9, 1]
        guard send(fd, header, header.count, 0) == header.count else { return false }
        var reply = [UInt8](repeating: 0, count: 7)
        guard recv(fd, &reply, reply.count, Int32(MSG_WAITALL)) == reply.count else { return false }
        // Frame type 1 (method) on channel 0: connection.start.
        return reply[0] == 1 && reply[1] == 0 && reply[2] == 0
    }
}
