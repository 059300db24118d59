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
/// data in `root/data`. ``tearDown()`` runs `down`, checks nothing is left running and removes the root.
struct LocalStackRun {
    let cli: CLIProcess
    let root: URL
    let data: URL
    /// What `up` answered (the caller requires its success).
    let up: CLIProcess.Result

    /// Runs `up`; `environment` adds settings for the CLI and the stack it starts.
    static func start(prefix: String, environment: [String: String] = [:]) async throws -> LocalStackRun {
        let root = try ScratchDirectory.make(prefix: prefix)
        let data = root.appendingPathComponent("data")
        let cli = try CLIProcess(environment: [
            "HOME": root.path, "XDG_CONFIG_HOME": root.appendingPathComponent("config").path,
            "XDG_STATE_HOME": root.appendingPathComponent("state").path,
        ].merging(environment) { $1 })
        let up = try await cli.run(["up", "--data-dir", data.path])
        return LocalStackRun(cli: cli, root: root, data: data, up: up)
    }

    func tearDown() {
        EndToEnd.EndToEndTests.tearDown(cli, data: data, root: root)
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
