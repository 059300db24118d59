import Foundation
@testable import PazMachineCLI
import PazLocalServers
import PazTestSupport
import Testing

/// Issue 12's chaos tests, through the built executables: a 20-machine generic create (loopback sshd
/// hosts, host certificates from the broker) while services die.
extension EndToEnd {
    @Suite("End to end: chaos during 20-machine creates", .serialized)
    struct ChaosEndToEndTests {
        static let machines = 20

        @Test("kill -9 of each service in turn during a 20-machine create: each create succeeds with exactly 20 machines")
        func killEachService() async throws {
            let run = try await LocalStackRun.start(prefix: "paz-e2e-chaos", environment: ["STATUS_INTERVAL_SECONDS": "2"])
            try await run.use {
                let cli = run.cli
                try #require(run.up.status == 0, "up failed: \(run.up.err)")
                let hosts = try await EndToEndTests.startHosts((0..<Self.machines).map { "127.0.0.\(10 + $0)" })
                defer { Task { for server in hosts.servers { await server.stop() } } }
                let keyFile = run.root.appendingPathComponent("id_ed25519")
                try PrivateFile.write(Data(hosts.key.privateKey.utf8), to: keyFile)
                let trust = try Self.trustDirectory(run)

                for service in ["paz-driver-generic", "paz-gateway", "paz-status-collector", "paz-ssh-broker"] {
                    let cluster = "chaos-" + service.split(separator: "-").last!
                    let accepted = try await cli.run(Self.createArguments(cluster, hosts: hosts.servers, key: keyFile, trust: trust))
                    try #require(accepted.status == 0, "\(service): create refused: \(accepted.err)")
                    let operation = try #require(try accepted.object()["id"] as? String)

                    // The driver and the broker (which certifies each new machine) die once the creates are
                    // under way: some machines have their host certificate, not all. The gateway and the
                    // collector die at once, before the operation could have ended (its events wait for them).
                    let certificates = { try FileManager.default.contentsOfDirectory(atPath: trust.path).filter { $0.hasSuffix("-cert.pub") } }
                    let creates = ["paz-driver-generic", "paz-ssh-broker"].contains(service)
                    let underWay = ContinuousClock.now + .seconds(60)
                    while creates, try certificates().count < 2, ContinuousClock.now < underWay {
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    try await run.killAndRestart(service) {
                        let done = try certificates().count
                        #expect(!creates || (2..<Self.machines).contains(done), "\(service) was to die during the create, with \(done) of 20 done")
                    }

                    let waited = try await cli.run(["ops", "wait", operation, "--output", "json"])
                    #expect(waited.status == 0, "\(service): the create did not succeed: \(waited.err) \(waited.out)")
                    let inspect = try await cli.run(["cluster", "inspect", cluster, "--output", "json"])
                    try #require(inspect.status == 0, "\(service): \(inspect.err)")
                    let machines = try #require(try inspect.object()["machines"] as? [[String: Any]])
                    #expect(machines.count == Self.machines, "\(service): \(machines.count) machines")
                    let addresses = machines.compactMap { ($0["addresses"] as? [[String: Any]])?.first?["address"] as? String }
                    #expect(Set(addresses) == Set(hosts.servers.map(\.host)), "\(service): \(addresses)")
                    // One host certificate per machine: no create ran twice to the end with other keys.
                    let certified = try certificates().count
                    #expect(certified == Self.machines, "\(service): \(certified) host certificates")

                    let removed = try await cli.run(["cluster", "rm", cluster])
                    #expect(removed.status == 0, "\(service): cluster rm: \(removed.err)")
                    #expect(try FileManager.default.contentsOfDirectory(atPath: trust.path).isEmpty, "\(service): trust files left")
                }
                let stack = try #require(try StackState.load(from: run.data.appendingPathComponent("stack.json")))
                let queued = try await EndToEndTests.queuedMessages(data: run.data, port: stack.ports.amqp)
                #expect(queued.isEmpty, "messages left in queues: \(queued)")
            }
        }

        @Test("Redis (append-only file) and RabbitMQ killed and restarted during 20-machine creates: each operation ends, none stays running")
        func serversRestart() async throws {
            let run = try await LocalStackRun.start(prefix: "paz-e2e-chaos-servers", environment: ["STATUS_INTERVAL_SECONDS": "2"])
            try await run.use {
                let cli = run.cli
                try #require(run.up.status == 0, "up failed: \(run.up.err)")
                let hosts = try await EndToEndTests.startHosts((0..<Self.machines).map { "127.0.0.\(40 + $0)" })
                defer { Task { for server in hosts.servers { await server.stop() } } }
                let keyFile = run.root.appendingPathComponent("id_ed25519")
                try PrivateFile.write(Data(hosts.key.privateKey.utf8), to: keyFile)
                let trust = try Self.trustDirectory(run)
                let certificates = { try FileManager.default.contentsOfDirectory(atPath: trust.path).filter { $0.hasSuffix("-cert.pub") } }

                for server in ["redis-server", "rabbitmq-server"] {
                    let cluster = "chaos-" + server.split(separator: "-").first!
                    let accepted = try await cli.run(Self.createArguments(cluster, hosts: hosts.servers, key: keyFile, trust: trust))
                    try #require(accepted.status == 0, "\(server): create refused: \(accepted.err)")
                    let operation = try #require(try accepted.object()["id"] as? String)
                    let underWay = ContinuousClock.now + .seconds(60)
                    while try certificates().count < 2, ContinuousClock.now < underWay { try await Task.sleep(for: .milliseconds(20)) }

                    let done = try certificates().count
                    try await run.killAndRestartServer(server, downFor: .seconds(3))
                    #expect((2..<Self.machines).contains(done), "\(server) was to die during the create, with \(done) of 20 done")

                    // The operation ends (a bounded wait: it must never stay running).
                    let waiting = Task { try await cli.run(["ops", "wait", operation, "--output", "json"]) }
                    let timeout = Task { try await Task.sleep(for: .seconds(240)); waiting.cancel() }
                    let waited = try await waiting.value
                    timeout.cancel()
                    let state = (try? waited.object()["state"] as? String) ?? "(no answer: \(waited.err))"
                    #expect(["succeeded", "failed"].contains(state), "\(server): the operation did not end: \(state)")
                    #expect(state == "succeeded", "\(server): \(waited.out) \(waited.err)")
                    let inspect = try await cli.run(["cluster", "inspect", cluster, "--output", "json"])
                    let machines = (try? inspect.object()["machines"] as? [[String: Any]]) ?? []
                    #expect(machines.count == Self.machines, "\(server): \(machines.count) machines")

                    let removed = try await cli.run(["cluster", "rm", cluster])
                    #expect(removed.status == 0, "\(server): cluster rm: \(removed.err)")
                    #expect(try FileManager.default.contentsOfDirectory(atPath: trust.path).isEmpty, "\(server): trust files left")
                }
            }
        }

        /// `cluster create NAME` of one generic machine per host, certified by the broker (trust files
        /// into `trust`), without waiting.
        static func createArguments(_ cluster: String, hosts: [SSHServer], key: URL, trust: URL) -> [String] {
            var create = [
                "cluster", "create", cluster, "--driver", "generic", "--no-wait", "--output", "json",
                "--generic-ip-address", hosts.map(\.host).joined(separator: ","),
                "--generic-ssh-port", String(hosts[0].port),
                "--generic-ssh-user", hosts[0].user, "--generic-ssh-key", "@" + key.path,
                "--generic-sudo", "", "--generic-ssh-trust-dir", trust.path, "--generic-sshd-reload-command", "true",
            ]
            for server in hosts { create += ["--generic-ssh-host-key", server.hostPublicKeys[0]] }
            return create
        }

        /// A directory the hosts' sshd user may write (sudo "" runs the install as that user).
        static func trustDirectory(_ run: LocalStackRun) throws -> URL {
            let trust = run.root.appendingPathComponent("ssh-trust")
            try FileManager.default.createDirectory(at: trust, withIntermediateDirectories: true)
            try HelperCommand.run("chown", [SSHServer.defaultUser, trust.path])
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: run.root.path)
            return trust
        }
    }
}
