import Foundation
import Logging
import PazAMQP
@testable import PazMachineCLI
import PazLocalServers
import PazRedis
import PazTestSupport
import Testing

/// Every end-to-end suite runs inside this one, one test at a time: each starts a whole stack
/// (RabbitMQ among it) and the QEMU ones real VMs; in parallel on 2 cores they starve each other.
@Suite(.serialized) enum EndToEnd {}

/// `paz-machine up` on a private scratch root: HOME and the XDG directories live inside it, the stack's
/// data in `root/data`. ``use(tearDown:_:)`` runs a test's body and then ``tearDown()``: `down`, a check
/// that nothing is left running, and the root's removal.
struct LocalStackRun {
    let cli: CLIProcess
    let root: URL
    let data: URL
    /// What `up` answered (the caller requires its success).
    let up: CLIProcess.Result

    /// Runs `up` (with `arguments` added); `environment` adds settings for the CLI and the stack it starts.
    static func start(prefix: String, arguments: [String] = [], environment: [String: String] = [:]) async throws -> LocalStackRun {
        let root = try ScratchDirectory.make(prefix: prefix)
        let data = root.appendingPathComponent("data")
        let cli = try CLIProcess(environment: [
            "HOME": root.path, "XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
            "XDG_STATE_HOME": root.appendingPathComponent("state").path,
        ].merging(environment) { $1 })
        let up = try await cli.run(["up", "--data-dir", data.path] + arguments)
        return LocalStackRun(cli: cli, root: root, data: data, up: up)
    }

    /// Runs `body`, then `tearDown` (``tearDown()`` unless given), also when `body` throws. A test's
    /// clean-up awaits `down` here instead of blocking one of the few cooperative threads in a `defer`
    /// for the seconds it takes, which stalled every other suite running meanwhile.
    func use(tearDown: (LocalStackRun) async -> Void = { await $0.tearDown() }, _ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch {
            await tearDown(self)
            throw error
        }
        await tearDown(self)
    }

    /// `paz-machine down`; then no process of the stack may remain. Removes the scratch directory.
    func tearDown() async {
        let down = try? await cli.run(["down", "--data-dir", data.path])
        #expect(down?.status == 0, "down failed: \(down?.err ?? "not run")")
        if let state = try? StackState.load(from: data.appendingPathComponent("stack.json")) {
            #expect(state.processes.isEmpty)
        }
        try? FileManager.default.removeItem(at: root)
    }

    /// Kills the stack's service `name` with SIGKILL (its whole process group), waits until it is
    /// gone, and starts it again as a supervisor would: same executable, same environment, same
    /// working directory; `stack.json` names the new process (so `down` stops it). `whileDown` runs
    /// between the two.
    func killAndRestart(_ name: String, whileDown: () async throws -> Void = {}) async throws {
        let stateFile = data.appendingPathComponent("stack.json")
        var state = try #require(try StackState.load(from: stateFile))
        let index = try #require(state.processes.firstIndex { $0.name == name }, "no \(name) in stack.json")
        let victim = state.processes[index]
        let environment = try Self.environment(of: victim.pid)
        try #require(await ProcessGroups.killAndWait(victim.pid), "\(name) still runs 10 s after SIGKILL")
        try await whileDown()
        let log = URL(fileURLWithPath: victim.log + ".restarted")
        let restarted = try ManagedProcess(
            executable: try Self.sibling(name), arguments: [], environment: environment, logFile: log, workingDirectory: data)
        state.processes[index] = .init(name: victim.name, pid: restarted.pid, isServer: false, log: log.path)
        try state.save(to: stateFile)
    }

    /// Kills the stack's process `name` (its whole group) with SIGKILL, as a crash, and waits until it is gone.
    func kill(_ name: String) async throws {
        let state = try #require(try StackState.load(from: data.appendingPathComponent("stack.json")))
        let victim = try #require(state.processes.first { $0.name == name }, "no \(name) in stack.json")
        try #require(await ProcessGroups.killAndWait(victim.pid), "\(name) still runs 10 s after SIGKILL")
    }

    /// Kills the stack's `redis-server` or `rabbitmq-server` (with its epmd) with SIGKILL, leaves it
    /// down for `downFor`, and starts it again on the same port and data directory (Redis replays its
    /// append-only file; RabbitMQ keeps its node name, users and durable queues); `stack.json`
    /// names the new processes.
    func killAndRestartServer(_ name: String, downFor: Duration) async throws {
        let stateFile = data.appendingPathComponent("stack.json")
        var state = try #require(try StackState.load(from: stateFile))
        let victims = state.processes.filter { name == "redis-server" ? $0.name == name : ["rabbitmq-server", "epmd"].contains($0.name) }
        try #require(!victims.isEmpty, "no \(name) in stack.json")
        for victim in victims {
            try #require(await ProcessGroups.killAndWait(victim.pid), "\(victim.name) still runs 10 s after SIGKILL")
        }
        try await Task.sleep(for: downFor)
        state.processes.removeAll { victims.map(\.pid).contains($0.pid) }
        if name == "redis-server" {
            let credentials = try StackAdmin.credentials(data)
            let server = try await RedisServer.start(
                dataDirectory: data.appendingPathComponent("redis"), port: state.ports.redis,
                options: RedisServer.Options(
                    appendOnly: true, password: credentials.redisAdminPassword,
                    users: try credentials.redisUsers(LocalStack.serviceKinds)))
            let process = try #require(server.process)
            state.processes.append(.init(name: name, pid: process.pid, isServer: true, log: process.logFile.path))
        } else {
            let server = try await RabbitMQServer.start(dataDirectory: data.appendingPathComponent("rabbitmq"), port: state.ports.amqp)
            for (index, process) in server.processes.enumerated() {
                state.processes.append(.init(
                    name: index == 0 ? "epmd" : "rabbitmq-server", pid: process.pid, isServer: true, log: process.logFile.path))
            }
        }
        try state.save(to: stateFile)
    }

    /// The environment a running process was started with.
    static func environment(of pid: Int32) throws -> [String: String] {
        let data = try #require(FileManager.default.contents(atPath: "/proc/\(pid)/environ"))
        var environment: [String: String] = [:]
        for entry in data.split(separator: 0).map({ String(decoding: $0, as: UTF8.self) }) {
            guard let equals = entry.firstIndex(of: "=") else { continue }
            environment[String(entry[..<equals])] = String(entry[entry.index(after: equals)...])
        }
        return environment
    }

    /// An executable next to the test bundle.
    static func sibling(_ name: String) throws -> String {
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        return URL(fileURLWithPath: link).deletingLastPathComponent().appendingPathComponent(name).path
    }
}

/// The operator's access to a local stack (its services each have their own users): Redis's
/// `default` user and RabbitMQ's `paz-admin`, with the passwords of the stack's `credentials.json`.
enum StackAdmin {
    static func credentials(_ data: URL) throws -> StackCredentials {
        try #require(try StackCredentials.load(from: data.appendingPathComponent("credentials.json")), "no credentials.json")
    }

    /// A Redis client as the `default` user; the caller closes it.
    static func redis(data: URL, port: Int) throws -> RedisClient {
        RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: port, password: try credentials(data).redisAdminPassword))
    }

    /// A connected AMQP connection as `paz-admin`; the caller closes it.
    static func amqp(data: URL, port: Int, name: String) async throws -> AMQPConnection {
        var logger = Logger(label: "e2e.amqp")
        logger.logLevel = .warning
        let amqp = AMQPConnection(
            configuration: AMQPConfiguration(
                host: "127.0.0.1", port: port, user: StackCredentials.amqpAdminUser,
                password: try credentials(data).amqpAdminPassword, connectionName: name),
            logger: logger)
        try await amqp.waitUntilConnected(timeout: .seconds(10))
        return amqp
    }
}

extension RedisContents {
    /// Every key of the local stack in `data`, read as its Redis admin.
    static func all(data: URL, port: Int) async throws -> [(key: String, content: String, ttl: Int)] {
        try await all(port: port, password: try StackAdmin.credentials(data).redisAdminPassword)
    }
}
