import Foundation
import Logging
import PazAMQP
@testable import PazMachineCLI
import PazLocalServers
import PazRedis
import PazSchemas
import Testing

/// `paz-machine up` runs every service as a RabbitMQ and Redis user of its own (docs/security.md,
/// "Service credentials"): checked from the servers' side, with `rabbitmqctl list_connections` and
/// Redis `CLIENT LIST`.
extension EndToEnd {
    @Suite("End to end: every service logs in with its own credentials", .serialized)
    struct CredentialsEndToEndTests {
        @Test("up: each service is connected as its own user; guest and the password-less default user are refused; no password in logs")
        func servicesUseTheirOwnCredentials() async throws {
            let run = try await LocalStackRun.start(prefix: "paz-e2e-credentials")
            try await run.use {
                try #require(run.up.status == 0, "up failed: \(run.up.err)")
                let stack = try #require(try StackState.load(from: run.data.appendingPathComponent("stack.json")))
                let credentialsFile = run.data.appendingPathComponent("credentials.json")
                let mode = try FileManager.default.attributesOfItem(atPath: credentialsFile.path)[.posixPermissions] as? NSNumber
                #expect(mode?.intValue == 0o600)
                let credentials = try StackAdmin.credentials(run.data)
                let serviceUsers = Set(LocalStack.serviceKinds.map(\.userName))
                #expect(Set(credentials.services.keys) == serviceUsers)

                // RabbitMQ: every connection belongs to a service user, and every service is connected.
                let rabbit = try #require(stack.processes.first { $0.name == "rabbitmq-server" })
                let environment = try #require(LocalStack.brokerEnvironment(pid: rabbit.pid), "cannot read the broker's environment")
                let listing = try await Self.rabbitmqctl(["list_connections", "user"], environment: environment)
                let amqpUsers = listing.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                #expect(Set(amqpUsers) == serviceUsers, "connections: \(amqpUsers)")

                // Redis: the same, from CLIENT LIST (our own connection is the default user's).
                let redis = try StackAdmin.redis(data: run.data, port: stack.ports.redis)
                let clients = try #require(try await redis.command("CLIENT", "LIST").string)
                await redis.close()
                let redisUsers = clients.split(separator: "\n").compactMap { line in
                    line.split(separator: " ").first { $0.hasPrefix("user=") }.map { String($0.dropFirst(5)) }
                }
                #expect(Set(redisUsers).subtracting(["default"]) == serviceUsers, "clients: \(redisUsers)")
                #expect(redisUsers.filter { $0 == "default" }.count == 1, "only the test's own connection is the default user's")

                // guest is gone; Redis's default user needs its password.
                var logger = Logger(label: "e2e.credentials")
                logger.logLevel = .critical
                let guest = AMQPConnection(
                    configuration: AMQPConfiguration(
                        host: "127.0.0.1", port: stack.ports.amqp, user: "guest", password: "guest", connectionName: "e2e-guest"),
                    logger: logger)
                await #expect(throws: AMQPError.self) { try await guest.waitUntilConnected(timeout: .seconds(3)) }
                await guest.close()
                let anonymous = RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: stack.ports.redis))
                await #expect(throws: RedisError.self) { _ = try await anonymous.command("GET", "paz:tokens") }
                await anonymous.close()

                // No password in what `up` printed or in any service's log.
                let passwords = [credentials.amqpAdminPassword, credentials.redisAdminPassword]
                    + credentials.services.values.flatMap { [$0.amqpPassword, $0.redisPassword] }
                let logs = try FileManager.default.contentsOfDirectory(atPath: run.data.appendingPathComponent("logs").path)
                var texts = [run.up.out, run.up.err]
                for log in logs {
                    texts.append((try? String(contentsOf: run.data.appendingPathComponent("logs/\(log)"), encoding: .utf8)) ?? "")
                }
                #expect(logs.count >= LocalStack.services.count)
                for password in passwords {
                    #expect(!texts.contains { $0.contains(password) }, "a password appears in the output or a log")
                }
            }
        }

        /// Runs `rabbitmqctl --quiet <arguments>` against the stack's node; its output.
        static func rabbitmqctl(_ arguments: [String], environment: [String: String]) async throws -> String {
            let node = try #require(environment["RABBITMQ_NODENAME"])
            let (status, text) = try await HelperCommand.result(
                "/usr/lib/rabbitmq/bin/rabbitmqctl", ["-n", node, "--quiet", "--no-table-headers"] + arguments,
                environment: environment)
            try #require(status == 0, "rabbitmqctl \(arguments.joined(separator: " ")) failed: \(text)")
            return text
        }
    }
}
