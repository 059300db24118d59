import Foundation
import Logging
import PazAMQP
import PazGatewayAPI
@testable import PazMachineCLI
import PazLocalServers
import PazRedis
import PazSchemas
import PazTestSupport
import Testing

/// Issue 3's acceptance path, through the built executables only: `paz-machine up` on a private data
/// directory (real redis-server, rabbitmq-server, gateway, status collector, generic driver), a
/// cluster of three existing hosts (loopback sshd on 127.0.0.2–4), status from Redis, a host going
/// away, tenant isolation, `cluster rm` leaving nothing behind, `down`.
extension EndToEnd {
    @Suite("End to end: local stack and a generic cluster of three loopback hosts", .serialized)
    struct EndToEndTests {
        /// The status collector's poll interval for this stack (STATUS_INTERVAL_SECONDS).
        static let interval = 2

        @Test("up → cluster create (3 generic) → status → a host stops → isolation → cluster rm → nothing left → down")
        func walkingSkeleton() async throws {
            let run = try await LocalStackRun.start(prefix: "paz-e2e", environment: ["STATUS_INTERVAL_SECONDS": String(Self.interval)])
            try await run.use {
                let (cli, root, data, up) = (run.cli, run.root, run.data, run.up)
                try #require(up.status == 0, "up failed: \(up.err)")
                #expect(up.err.contains("logged in to http://127.0.0.1:"))
                let stack = try #require(try StackState.load(from: data.appendingPathComponent("stack.json")), "no stack.json")

                let hosts = try await Self.startHosts()
                let keyFile = root.appendingPathComponent("id_ed25519")
                try PrivateFile.write(Data(hosts.key.privateKey.utf8), to: keyFile)

                // cluster create: one machine per address, per-machine host keys, harmless power commands.
                var create = [
                    "cluster", "create", "lab", "--driver", "generic",
                    "--generic-ip-address", hosts.servers.map(\.host).joined(separator: ","),
                    "--generic-ssh-port", String(hosts.servers[0].port),
                    "--generic-ssh-user", hosts.servers[0].user, "--generic-ssh-key", "@" + keyFile.path,
                    "--generic-stop-command", "true", "--generic-restart-command", "true", "--generic-kill-command", "true",
                    "--generic-install-ssh-trust", "false",
                ]
                for server in hosts.servers { create += ["--generic-ssh-host-key", server.hostPublicKeys[0]] }
                let created = try await cli.run(create + ["--output", "json"])
                try #require(created.status == 0, "cluster create failed: \(created.err)\n\(created.out)")

                let inspect = try await cli.run(["cluster", "inspect", "lab", "--output", "json"])
                try #require(inspect.status == 0, "\(inspect.err)")
                let cluster = try inspect.object()
                let clusterId = try #require(cluster["id"] as? String)
                let machines = try #require(cluster["machines"] as? [[String: Any]])
                let machineIds = machines.compactMap { $0["id"] as? String }
                #expect(machineIds.count == 3)
                let addresses = Set(machines.compactMap { ($0["addresses"] as? [[String: Any]])?.first?["address"] as? String })
                #expect(addresses == Set(hosts.servers.map(\.host)), "\(machines)")

                // status: three running, read from Redis by the gateway.
                let running = try await Self.states(cli)
                #expect(running.count == 3 && running.values.allSatisfy { $0 == "running" }, "\(running)")

                // probe: the host is this computer, so its kernel is ours; cluster inspect --probe adds units.
                let probe = try await cli.run(["probe", machineIds[0], "--output", "json"])
                #expect(probe.status == 0, "\(probe.err)")
                let probed = try probe.object()
                #expect(probed["reachable"] as? Bool == true, "\(probe.out)")
                var name = utsname()
                uname(&name)
                let kernel = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
                #expect(probed["kernel"] as? String == kernel)
                #expect((probed["uptimeSeconds"] as? Double ?? 0) > 0)
                let inspected = try await cli.run(["cluster", "inspect", "lab", "--probe", "--output", "json"])
                let probedMachines = try inspected.object()["machines"] as? [[String: Any]] ?? []
                #expect(probedMachines.count == 3 && probedMachines.allSatisfy { $0["unitsObservedAt"] != nil }, "\(inspected.out)")

                // One host goes away out of band: within a poll interval (plus the poll's own timeout) it is
                // no longer running.
                let stopped = hosts.servers[1]
                await stopped.stop()
                let stoppedAt = ContinuousClock.now
                var changedAfter: Duration?
                while ContinuousClock.now - stoppedAt < .seconds(6 * Self.interval) {
                    let states = try await Self.states(cli)
                    if let state = states.first(where: { $0.key.hasSuffix("-2") })?.value, state != "running" {
                        changedAfter = ContinuousClock.now - stoppedAt
                        break
                    }
                    try await Task.sleep(for: .milliseconds(200))
                }
                let changed = try #require(changedAfter, "the stopped host still shows running after \(6 * Self.interval) s")
                // One interval, plus the poll's timeout (interval/2), plus our own polling granularity.
                #expect(changed < .seconds(Self.interval) + .seconds(Self.interval) / 2 + .seconds(1), "took \(changed)")
                let others = try await Self.states(cli).filter { !$0.key.hasSuffix("-2") }
                #expect(others.values.allSatisfy { $0 == "running" }, "\(others)")

                // A second tenant sees nothing of it and can touch nothing.
                let otherToken = try await Self.secondTenantToken(stack: stack, data: data)
                let asOther = ["PAZ_TOKEN": otherToken]
                let otherStatus = try await cli.run(["status", "--output", "json"], extraEnvironment: asOther)
                #expect(otherStatus.status == 0, "\(otherStatus.err)")
                #expect((try otherStatus.object()["clusters"] as? [Any])?.isEmpty == true, "\(otherStatus.out)")
                let otherList = try await cli.run(["cluster", "ls", "--output", "json"], extraEnvironment: asOther)
                #expect(otherList.status == 0, "\(otherList.err)")
                #expect((try otherList.object()["clusters"] as? [Any])?.isEmpty == true, "\(otherList.out)")
                for refused in [
                    ["cluster", "inspect", "lab"], ["cluster", "inspect", clusterId], ["inspect", machineIds[0]],
                    ["stop", machineIds[0]], ["kill", machineIds[0]], ["rm", machineIds[0]], ["cluster", "rm", clusterId],
                ] {
                    let answer = try await cli.run(refused, extraEnvironment: asOther)
                    #expect(answer.status != 0, "tenant B could run \(refused): \(answer.out)")
                    #expect(answer.err.lowercased().contains("not found"), "\(refused): \(answer.err)")
                }
                #expect(try await Self.states(cli).count == 3, "tenant B's attempts changed tenant A's cluster")

                // cluster rm: the operation ends, and neither Redis nor any queue keeps a trace of the cluster.
                let removed = try await cli.run(["cluster", "rm", "lab", "--output", "json"])
                try #require(removed.status == 0, "cluster rm failed: \(removed.err)")
                let afterRemoval = try await cli.run(["cluster", "ls", "--output", "json"])
                #expect((try afterRemoval.object()["clusters"] as? [Any])?.isEmpty == true, "\(afterRemoval.out)")
                let leftovers = try await Self.redisMentions(of: [clusterId] + machineIds, data: data, port: stack.ports.redis)
                #expect(leftovers.isEmpty, "Redis still holds the cluster: \(leftovers)")
                let queued = try await Self.queuedMessages(data: data, port: stack.ports.amqp)
                #expect(queued.isEmpty, "messages left in queues: \(queued)")

                for server in hosts.servers { await server.stop() }
            }
        }

        // MARK: steps

        /// sshd of an unprivileged user on each of `addresses` (default 127.0.0.2–4), one port, each
        /// with its own host keys.
        static func startHosts(
            _ addresses: [String] = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
        ) async throws -> (servers: [SSHServer], key: TestUserKey) {
            let key = try TestUserKey.generate()
            let port = try LoopbackNetwork.freePort(host: addresses[0])
            var servers: [SSHServer] = []
            for host in addresses {
                let server = try SSHServer(host: host, port: port)
                try server.authorize(publicKeys: [key.publicKey])
                try await TestSSHD.start(server)
                servers.append(server)
            }
            return (servers, key)
        }

        /// Machine name → state, from `paz-machine status --output json`.
        static func states(_ cli: CLIProcess) async throws -> [String: String] {
            let status = try await cli.run(["status", "--output", "json"])
            try #require(status.status == 0, "\(status.err)")
            var states: [String: String] = [:]
            for cluster in try status.object()["clusters"] as? [[String: Any]] ?? [] {
                for machine in cluster["machines"] as? [[String: Any]] ?? [] {
                    if let name = machine["name"] as? String { states[name] = machine["state"] as? String ?? "?" }
                }
            }
            return states
        }

        /// A second tenant and a token of it, made with the stack's admin token over the API.
        static func secondTenantToken(stack: StackState, data: URL) async throws -> String {
            let admin = try String(contentsOf: data.appendingPathComponent("admin-token"), encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            return try await CLIContext.withClient(gateway: stack.gatewayURL, token: admin) { client in
                _ = try await client.createTenant(body: .json(.init(name: "other"))).created
                return try await client.createTenantToken(path: .init(tenant: "other"), body: .json(.init(name: "e2e")))
                    .created.body.json.token
            }
        }

        /// Every Redis key whose name or content mentions one of `ids`, except operation records, which
        /// are history and expire on their own (their TTL is checked instead).
        static func redisMentions(of ids: [String], data: URL, port: Int) async throws -> [String] {
            try await RedisContents.all(data: data, port: port).compactMap { entry in
                guard ids.contains(where: { entry.key.contains($0) || entry.content.contains($0) }) else { return nil }
                guard entry.key.contains(":op:") else { return entry.key }
                return entry.ttl > 0 ? nil : "\(entry.key) (operation record without TTL)"
            }
        }

        /// Queue name → messages still in it, for every queue of the control plane (ready or unacked).
        static func queuedMessages(data: URL, port: Int) async throws -> [String: Int] {
            let amqp = try await StackAdmin.amqp(data: data, port: port, name: "e2e-check")
            defer { Task { await amqp.close() } }
            let queues = [
                "paz.driver.generic.commands", "paz.driver.generic.queries", "paz.gateway.events", "paz.collector.events",
                "paz.ssh-broker.rpc", "paz.dead-letters", "paz.gateway.dead-letters",
            ] + Routing.retryQueueNames
            var left: [String: Int] = [:]
            // Consumers ack right after their store writes, and a message retried late in a test (a
            // store write during a failover) waits out its delay first: up to the longest one.
            let deadline = ContinuousClock.now + .seconds(Routing.retryDelaysSeconds.max()! + 15)
            repeat {
                left = [:]
                for queue in queues {
                    let count = try await amqp.queueStatus(queue)?.messageCount ?? 0
                    if count > 0 { left[queue] = count }
                }
                if left.isEmpty { break }
                try await Task.sleep(for: .milliseconds(200))
            } while ContinuousClock.now < deadline
            return left
        }
    }
}
