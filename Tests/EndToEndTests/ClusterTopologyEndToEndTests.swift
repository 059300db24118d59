import Foundation
@testable import PazMachineCLI
import PazLocalServers
import PazTestSupport
import Testing

/// Issue 15's fault tests: `paz-machine up --topology ha` (3 RabbitMQ nodes, Redis primary + replica +
/// 3 Sentinels, 2 replicas of each service, HAProxy in front of 2 gateways) under a steady stream of
/// creates through HAProxy while one part after another is killed with SIGKILL.
extension EndToEnd {
    @Suite("End to end: the cluster topology under faults", .serialized)
    struct ClusterTopologyEndToEndTests {
        /// Clusters created in each phase, 2 machines each; the fault comes after the second is accepted.
        static let clustersPerPhase = 6

        /// What one phase kills.
        enum Fault: String, CaseIterable {
            case gateway
            case rabbitMQNode = "rabbitmq-node"
            case redisPrimary = "redis-primary"
        }

        @Test("a stream of creates while a gateway, a RabbitMQ node and the Redis primary die in turn: every create is accepted, succeeds once; status answers again within 10 s of the primary's death")
        func faultsUnderLoad() async throws {
            let run = try await LocalStackRun.start(
                prefix: "paz-e2e-ha", arguments: ["--topology", "ha"], environment: ["STATUS_INTERVAL_SECONDS": "2"])
            try await run.use {
                let cli = run.cli
                try #require(run.up.status == 0, "up --topology ha failed: \(run.up.err)")
                let state = try #require(try StackState.load(from: run.data.appendingPathComponent("stack.json")))
                let ha = try #require(state.ha)
                #expect(state.processes.filter { $0.name.hasPrefix("rabbitmq-server.") }.count == 3)
                #expect(state.processes.filter { $0.name.hasPrefix("paz-gateway.") }.count == 2)
                #expect(state.processes.contains { $0.name == "haproxy" })

                let hosts = try await EndToEndTests.startHosts((0..<(2 * Self.clustersPerPhase)).map { "127.0.0.\(70 + $0)" })
                defer { Task { for server in hosts.servers { await server.stop() } } }
                let keyFile = run.root.appendingPathComponent("id_ed25519")
                try PrivateFile.write(Data(hosts.key.privateKey.utf8), to: keyFile)
                let trust = try ChaosEndToEndTests.trustDirectory(run)
                let certificates = { try FileManager.default.contentsOfDirectory(atPath: trust.path).filter { $0.hasSuffix("-cert.pub") } }

                for fault in Fault.allCases {
                    let stream = CreateStream(
                        cli: cli, hosts: hosts.servers, key: keyFile, trust: trust, prefix: "ha-\(fault.rawValue)",
                        clusters: Self.clustersPerPhase, pause: .milliseconds(300))
                    try await stream.waitUntilAnswered(2)
                    try await inject(fault, run: run, ha: ha, cli: cli)
                    let clusters = try await stream.expectAllSucceeded(cli, context: "\(fault)")
                    // One host certificate per machine: no create ran twice to the end.
                    let certified = try certificates().count
                    #expect(certified == 2 * clusters.count, "\(fault): \(certified) certificates")
                    for cluster in clusters {
                        let removed = try await cli.run(["cluster", "rm", cluster])
                        #expect(removed.status == 0, "\(fault): cluster rm \(cluster): \(removed.err)")
                    }
                    #expect(try FileManager.default.contentsOfDirectory(atPath: trust.path).isEmpty, "\(fault): trust files left")
                }
                let live = ha.amqp.filter { LoopbackNetwork.canConnect(host: "127.0.0.1", port: $0) }
                let queued = try await EndToEndTests.queuedMessages(data: run.data, port: try #require(live.first))
                #expect(queued.isEmpty, "messages left in queues: \(queued)")
            }
        }

        /// Kills what `fault` names. For the Redis primary, also checks that status answers again within
        /// 10 s (Sentinel promotes the replica; the services follow it).
        private func inject(_ fault: Fault, run: LocalStackRun, ha: StackState.HAPorts, cli: CLIProcess) async throws {
            switch fault {
            case .gateway:
                try await run.kill("paz-gateway.1")
            case .rabbitMQNode:
                try await run.kill("rabbitmq-server.1")
            case .redisPrimary:
                let primary = try #require(RedisSentinelServer.primaryPort(sentinelPort: ha.sentinels[0], masterName: LocalStack.sentinelMasterName))
                let index = try #require(ha.redis.firstIndex(of: primary))
                try await run.kill("redis-server.\(index + 1)")
                let killed = ContinuousClock.now
                var answered: Duration?
                while answered == nil, ContinuousClock.now - killed < .seconds(30) {
                    if try await cli.run(["status", "--output", "json"]).status == 0 { answered = ContinuousClock.now - killed }
                }
                let recovery = try #require(answered, "status did not answer within 30 s of the primary's death")
                #expect(recovery < .seconds(10), "status answered again after \(recovery)")
                var promoted: Int?
                while promoted == nil || promoted == primary, ContinuousClock.now - killed < .seconds(30) {
                    promoted = RedisSentinelServer.primaryPort(sentinelPort: ha.sentinels[1], masterName: LocalStack.sentinelMasterName)
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(promoted.map { ha.redis.contains($0) && $0 != primary } == true, "the Sentinels name \(String(describing: promoted)) as primary")
            }
        }
    }
}
