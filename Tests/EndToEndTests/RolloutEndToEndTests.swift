import Foundation
@testable import PazMachineCLI
import PazLocalServers
import PazTestSupport
import Testing

/// Issue 15's rolling driver upgrade (docs/operations.md): two replicas of the generic driver are
/// replaced one by one — a new process started, then the old one sent SIGTERM — while creates keep
/// coming through the gateway.
extension EndToEnd {
    @Suite("End to end: a driver rolled out replica by replica under load", .serialized)
    struct RolloutEndToEndTests {
        static let clusters = 6

        @Test("each replica in turn is replaced (start new, SIGTERM old): the old one stops consuming, finishes what it holds and exits; every create succeeds once")
        func rollingReplacement() async throws {
            let run = try await LocalStackRun.start(prefix: "paz-e2e-rollout", environment: ["STATUS_INTERVAL_SECONDS": "2"])
            try await run.use {
                let cli = run.cli
                try #require(run.up.status == 0, "up failed: \(run.up.err)")
                let hosts = try await EndToEndTests.startHosts((0..<(2 * Self.clusters)).map { "127.0.0.\(100 + $0)" })
                defer { Task { for server in hosts.servers { await server.stop() } } }
                let keyFile = run.root.appendingPathComponent("id_ed25519")
                try PrivateFile.write(Data(hosts.key.privateKey.utf8), to: keyFile)
                let trust = try ChaosEndToEndTests.trustDirectory(run)

                // A second replica of the stack's generic driver, as a supervisor would start it.
                let original = try #require(try StackState.load(from: run.data.appendingPathComponent("stack.json"))?
                    .processes.first { $0.name == "paz-driver-generic" })
                let environment = try LocalStackRun.environment(of: original.pid)
                var replicas = [Replica(pid: original.pid, log: URL(fileURLWithPath: original.log), process: nil)]
                replicas.append(try await Replica.start(environment: environment, log: run.data.appendingPathComponent("logs/generic-b.log")))

                let stream = CreateStream(
                    cli: cli, hosts: hosts.servers, key: keyFile, trust: trust, prefix: "roll", clusters: Self.clusters,
                    pause: .milliseconds(400))
                try await stream.waitUntilAnswered(2)

                // Replace each replica: the new one consumes before the old one is told to stop.
                var replaced: [Replica] = []
                for (index, old) in replicas.enumerated() {
                    replaced.append(try await Replica.start(
                        environment: environment, log: run.data.appendingPathComponent("logs/generic-new-\(index).log")))
                    _ = Foundation.kill(old.pid, SIGTERM)
                    let exited = try await old.waitUntilGone(timeout: .seconds(60))
                    #expect(exited, "replica \(index) did not exit within 60 s of SIGTERM")
                    if let status = old.process?.waitUntilExit() { #expect(status == 0, "replica \(index) exited with \(status)") }
                    let log = (try? String(contentsOf: old.log, encoding: .utf8)) ?? ""
                    #expect(log.contains("Stopped consuming"), "replica \(index) did not stop consuming before it exited")
                    #expect(log.contains("command succeeded"), "replica \(index) ran no command: it was not under load")
                }
                let clusters = try await stream.expectAllSucceeded(cli, context: "rollout")
                #expect(clusters.count == Self.clusters)
                // One host certificate per machine: no create ran twice to the end.
                let certificates = try FileManager.default.contentsOfDirectory(atPath: trust.path).filter { $0.hasSuffix("-cert.pub") }
                #expect(certificates.count == 2 * Self.clusters)
                for cluster in clusters {
                    let removed = try await cli.run(["cluster", "rm", cluster])
                    #expect(removed.status == 0, "cluster rm \(cluster): \(removed.err)")
                }
                for replica in replaced {
                    _ = Foundation.kill(replica.pid, SIGTERM)
                    _ = try await replica.waitUntilGone(timeout: .seconds(30))
                }
            }
        }

        /// A driver process: the stack's own (no handle) or one this test started.
        struct Replica {
            let pid: Int32
            let log: URL
            let process: ManagedProcess?

            /// Starts `paz-driver-generic` with `environment` on a new ops port; returns once it is ready.
            static func start(environment: [String: String], log: URL) async throws -> Replica {
                var environment = environment
                let port = try LoopbackNetwork.freePort()
                environment["OPS_PORT"] = String(port)
                let process = try ManagedProcess(
                    executable: try LocalStackRun.sibling("paz-driver-generic"), arguments: [], environment: environment, logFile: log)
                FixtureCleanup.stopAtExit(process)
                let deadline = ContinuousClock.now + .seconds(60)
                while ContinuousClock.now < deadline {
                    let ready = try? await LoopbackHTTP.send(
                        "GET", "http://127.0.0.1:\(port)/readyz", timeout: .seconds(2), server: "paz-driver-generic")
                    if ready?.status == 200 { return Replica(pid: process.pid, log: log, process: process) }
                    try #require(process.isRunning, "the new replica exited: \(process.logTail())")
                    try await Task.sleep(for: .milliseconds(100))
                }
                throw LocalServerError.notReady(server: "paz-driver-generic", address: "127.0.0.1:\(port)", logTail: process.logTail())
            }

            /// True once the process is gone (or a zombie), false after `timeout`.
            func waitUntilGone(timeout: Duration) async throws -> Bool {
                let deadline = ContinuousClock.now + timeout
                while ContinuousClock.now < deadline {
                    if let process {
                        if !process.isRunning { return true }
                    } else if ProcessGroups.entry(pid).map({ $0.state == "Z" }) ?? true {
                        return true
                    }
                    try await Task.sleep(for: .milliseconds(50))
                }
                return false
            }
        }
    }
}
