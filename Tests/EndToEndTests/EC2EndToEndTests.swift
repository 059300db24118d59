import Foundation
@testable import PazMachineCLI
import PazLocalServers
import PazTestSupport
import Testing

/// The EC2 driver through the built executables and a real moto server with signature checking on:
/// the `paz-machine` user's path (defaults, catalog, create, lifecycle, rm), refusals that must leave
/// nothing behind, retries behind a fault proxy, and a driver killed mid-create. moto's instances
/// carry addresses nobody may contact, so every create uses `ready-when=running`; the stack allows
/// no SSH to them anyway (EC2_ADDRESS_ALLOW=127.0.0.0/8).
extension EndToEnd {
    @Suite("End to end: the EC2 driver on moto", .serialized)
    struct EC2EndToEndTests {
        static let cidr = "203.0.113.0/24"

        @Test("defaults, catalog, create 3, stop/start/restart/kill, rm: nothing of the cluster left; bad credentials and AMIs leave nothing")
        func lifecycle() async throws {
            let moto = try await TestMoto.privateServer(options: .init(environment: ["MOTO_ENABLE_AMI_VALIDATION": "true"]))
            defer { Task { await moto.stop() } }
            let run = try await LocalStackRun.start(prefix: "paz-e2e-ec2", environment: ["EC2_ENDPOINT_PREFIXES": moto.endpoint])
            try await run.use {
                try #require(run.up.status == 0, "up failed: \(run.up.err)")
                let cli = run.cli

                // Credentials once, as defaults: catalog calls use them, creates inherit them.
                let defaults = try await cli.run([
                    "defaults", "ec2", "--ec2-access-key-id", moto.credentials.accessKeyID,
                    "--ec2-secret-access-key", moto.credentials.secretAccessKey, "--ec2-endpoint", moto.endpoint,
                    "--ec2-region", moto.region,
                ])
                try #require(defaults.status == 0, "\(defaults.err)")
                #expect(!defaults.out.contains(moto.credentials.secretAccessKey) && defaults.out.contains("secret-access-key"))

                let images = try await cli.run(["images", "ec2", "--output", "json"])
                try #require(images.status == 0, "\(images.err)")
                let imageIds = try Self.ids(images.out, list: "images")
                let ami = try #require(imageIds.first { $0.hasPrefix("ami-") }, "no AMI in \(images.out.prefix(500))")
                let sizes = try await cli.run(["sizes", "ec2", "--output", "json"])
                #expect(try Self.ids(sizes.out, list: "sizes").contains("t3.micro"), "\(sizes.err)")
                let locations = try await cli.run(["locations", "ec2", "--output", "json"])
                let places = try Self.ids(locations.out, list: "locations")
                #expect(places.contains(moto.region) && places.contains(moto.region + "a"), "\(places)")

                let before = try await EC2Inventory.take(of: moto)
                let created = try await cli.run([
                    "cluster", "create", "web", "--driver", "ec2", "--count", "3", "--image", ami, "--size", "t3.micro",
                    "--ec2-ssh-cidr", Self.cidr, "--ec2-ready-when", "running",
                ])
                try #require(created.status == 0, "\(created.err)")
                let cluster = try #require(try await cli.run(["cluster", "inspect", "web", "--output", "json"]).object()["id"] as? String)
                var inventory = try await EC2Inventory.take(of: moto)
                #expect(inventory.instanceStates(taggedWith: EC2Inventory.clusterTag, cluster) == ["running": 3])
                let groups = inventory.resources(ofCluster: cluster).filter { $0.type == .securityGroup }
                #expect(groups.count == 1, "\(groups)")
                #expect(try await QEMUEndToEndTests.state(of: "web-1", cli) == "running")
                let machine = try await cli.run(["inspect", "web-1", "--output", "json"]).object()
                #expect((machine["providerId"] as? String)?.hasPrefix("i-") == true, "\(machine)")

                #expect(try await cli.run(["stop", "web-1"]).status == 0)
                #expect(try await QEMUEndToEndTests.state(of: "web-1", cli) == "stopped")
                #expect(try await cli.run(["start", "web-1"]).status == 0)
                #expect(try await QEMUEndToEndTests.state(of: "web-1", cli) == "running")
                #expect(try await cli.run(["restart", "web-2"]).status == 0)
                #expect(try await cli.run(["kill", "web-3"]).status == 0)
                #expect(try await QEMUEndToEndTests.state(of: "web-3", cli) == "stopped")
                inventory = try await EC2Inventory.take(of: moto)
                #expect(inventory.instanceStates(taggedWith: EC2Inventory.clusterTag, cluster) == ["running": 2, "stopped": 1])

                // Stopped behind paz-machine's back: the collector's next poll (one DescribeInstances) shows it.
                let instance = try #require(try await cli.run(["inspect", "web-1", "--output", "json"]).object()["providerId"] as? String)
                let stopped = try await CurlEC2Query.send(
                    "StopInstances", [("InstanceId.1", instance)], endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials)
                try #require(stopped.status == 200, "\(stopped.body)")
                var polled: String?
                for _ in 0..<40 where polled != "stopped" {
                    try await Task.sleep(for: .seconds(1))
                    polled = try await cli.run(["inspect", "web-1", "--output", "json"]).object()["state"] as? String
                }
                #expect(polled == "stopped", "the status never showed the instance stopped out of band")

                let removed = try await cli.run(["cluster", "rm", "web"])
                #expect(removed.status == 0, "\(removed.err)")
                inventory = try await EC2Inventory.take(of: moto)
                #expect(inventory.resources(ofCluster: cluster, includingTerminated: false).isEmpty,
                        "left behind: \(inventory.resources(ofCluster: cluster, includingTerminated: false))")
                #expect(inventory.instanceStates(taggedWith: EC2Inventory.clusterTag, cluster) == ["terminated": 3])

                // Refusals: a wrong secret (EC2 answers AuthFailure), an AMI that does not exist.
                let wrongKey = try await cli.run([
                    "cluster", "create", "bad-key", "--driver", "ec2", "--image", ami, "--ec2-ssh-cidr", Self.cidr,
                    "--ec2-ready-when", "running", "--ec2-secret-access-key", "not-the-secret",
                ])
                #expect(wrongKey.status != 0)
                #expect(wrongKey.err.contains("AuthFailure") && wrongKey.err.contains("secret-access-key"), "\(wrongKey.err)")
                let badAMI = try await cli.run([
                    "cluster", "create", "bad-ami", "--driver", "ec2", "--image", "ami-0000000000deadbee", "--ec2-ssh-cidr", Self.cidr,
                    "--ec2-ready-when", "running",
                ])
                #expect(badAMI.status != 0)
                #expect(badAMI.err.contains("ami-0000000000deadbee"), "\(badAMI.err)")
                for name in ["bad-key", "bad-ami"] {
                    _ = try await cli.run(["cluster", "rm", name])
                }
                let after = try await EC2Inventory.take(of: moto)
                let leaked = Set(after.created.filter { $0.state != "terminated" }).subtracting(before.created)
                    .filter { $0.type != .networkInterface || $0.attachedInstanceID == nil }
                #expect(leaked.isEmpty, "left behind: \(leaked)")
                #expect(!(try String(contentsOf: run.data.appendingPathComponent("logs/paz-driver-ec2.log"), encoding: .utf8))
                    .contains(moto.credentials.secretAccessKey), "the secret is in the driver's log")
            }
        }

        @Test("throttling and 5xx on every call are retried; a RunInstances that took effect but answered 503 is adopted, not repeated")
        func retries() async throws {
            let moto = try await TestMoto.privateServer()
            defer { Task { await moto.stop() } }
            let proxy = try await EC2FaultProxy.start(inFrontOf: moto)
            defer { Task { await proxy.stop() } }
            let run = try await LocalStackRun.start(prefix: "paz-e2e-ec2-faults", environment: ["EC2_ENDPOINT_PREFIXES": proxy.endpoint])
            try await run.use {
                try #require(run.up.status == 0, "up failed: \(run.up.err)")
                let ami = try await Self.anyAMI(moto)
                try await proxy.schedule([
                    .requestLimitExceeded(action: "DescribeInstances", count: 2), .throttling(action: "DescribeImages"),
                    .internalError(action: "RunInstances:DryRun"),
                    .internalError(action: "CreateSecurityGroup"), .requestLimitExceeded(action: "RunInstances", timing: .afterForwarding),
                    .internalError(action: "TerminateInstances", timing: .afterForwarding),
                ])
                let environment = ["PAZ_EC2_ACCESS_KEY_ID": moto.credentials.accessKeyID, "PAZ_EC2_SECRET_ACCESS_KEY": moto.credentials.secretAccessKey]
                let created = try await run.cli.run([
                    "cluster", "create", "flaky", "--driver", "ec2", "--image", ami, "--ec2-endpoint", proxy.endpoint,
                    "--ec2-ssh-cidr", Self.cidr, "--ec2-ready-when", "running",
                ], extraEnvironment: environment)
                try #require(created.status == 0, "\(created.err)")
                let cluster = try #require(try await run.cli.run(["cluster", "inspect", "flaky", "--output", "json"]).object()["id"] as? String)
                let statistics = try await proxy.statistics()
                #expect(statistics.faulted["RunInstances"] == 1 && statistics.faulted["DescribeInstances"] == 2, "\(statistics)")
                #expect(statistics.faulted["DescribeImages"] == 1 && statistics.faulted["CreateSecurityGroup"] == 1, "\(statistics)")
                #expect(statistics.faulted["RunInstances:DryRun"] == 1 && statistics.forwarded["RunInstances"] == 1, "\(statistics)")
                var inventory = try await EC2Inventory.take(of: moto)
                // The first RunInstances made an instance whose answer was lost: it is adopted, no second one.
                #expect(inventory.instanceStates(taggedWith: EC2Inventory.clusterTag, cluster) == ["running": 1])

                #expect(try await run.cli.run(["cluster", "rm", "flaky"]).status == 0)
                #expect(try await proxy.statistics().faulted["TerminateInstances"] == 1)
                inventory = try await EC2Inventory.take(of: moto)
                #expect(inventory.resources(ofCluster: cluster, includingTerminated: false).isEmpty,
                        "left behind: \(inventory.resources(ofCluster: cluster, includingTerminated: false))")
            }
        }

        @Test("kill -9 of the driver during a 20-machine create, then a restart: exactly 20 instances, one per machine")
        func driverCrash() async throws {
            let moto = try await TestMoto.privateServer()
            defer { Task { await moto.stop() } }
            let proxy = try await EC2FaultProxy.start(inFrontOf: moto)
            defer { Task { await proxy.stop() } }
            // One command at a time: while the k-th launch is held no other create runs, so the driver
            // dies with exactly k instances made, however long the kill takes on a loaded machine.
            let run = try await LocalStackRun.start(
                prefix: "paz-e2e-ec2-crash", environment: ["EC2_ENDPOINT_PREFIXES": proxy.endpoint, "DRIVER_PREFETCH": "1"])
            try await run.use {
                try #require(run.up.status == 0, "up failed: \(run.up.err)")
                let ami = try await Self.anyAMI(moto)
                // The k-th launch takes effect at once but its answer is held back: the driver dies in that
                // window, having made an instance it never heard of.
                let killAt = Int.random(in: 1...12)
                try await proxy.schedule(
                    (killAt > 1 ? [.held(action: "RunInstances", for: .zero, count: killAt - 1)] : [])
                        + [.held(action: "RunInstances", for: .seconds(60))])
                let environment = ["PAZ_EC2_ACCESS_KEY_ID": moto.credentials.accessKeyID, "PAZ_EC2_SECRET_ACCESS_KEY": moto.credentials.secretAccessKey]
                let accepted = try await run.cli.run([
                    "cluster", "create", "crash", "--driver", "ec2", "--count", "20", "--no-wait", "--output", "json", "--image", ami,
                    "--ec2-endpoint", proxy.endpoint, "--ec2-ssh-cidr", Self.cidr, "--ec2-ready-when", "running",
                ], extraEnvironment: environment)
                try #require(accepted.status == 0, "\(accepted.err)")
                let operation = try #require(try accepted.object()["id"] as? String)
                let cluster = try #require(try await run.cli.run(["cluster", "inspect", "crash", "--output", "json"]).object()["id"] as? String)

                let deadline = ContinuousClock.now + .seconds(60)
                while try await proxy.statistics().faulted["RunInstances", default: 0] < killAt && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(10))
                }
                var atKill = 0
                try await run.killAndRestart("paz-driver-ec2") {
                    atKill = try await Self.instanceCount(moto, cluster: cluster)
                    #expect(atKill >= killAt && atKill < 20, "the driver was to die with at least \(killAt) of 20 instances made, not \(atKill)")
                }
                let waited = try await run.cli.run(["ops", "wait", operation])
                #expect(waited.status == 0, "the create did not complete after the restart: \(waited.err)")

                let inventory = try await EC2Inventory.take(of: moto)
                let instances = inventory.resources.filter { $0.type == .instance && $0.tags[EC2Inventory.clusterTag] == cluster }
                let alive = instances.filter { $0.state != "terminated" }
                #expect(alive.count == 20, "killed with \(atKill) made: \(inventory.instanceStates(taggedWith: EC2Inventory.clusterTag, cluster))")
                let machines = Dictionary(grouping: alive) { $0.tags[EC2Inventory.machineTag] ?? "" }
                #expect(machines.count == 20 && machines.values.allSatisfy { $0.count == 1 }, "\(machines.mapValues(\.count))")
                #expect(instances.count == 20, "instances made and terminated again: \(instances.count - alive.count)")

                #expect(try await run.cli.run(["cluster", "rm", "crash"]).status == 0)
                let after = try await EC2Inventory.take(of: moto)
                #expect(after.resources(ofCluster: cluster, includingTerminated: false).isEmpty)
            }
        }

        // MARK: Helpers

        /// The `id`s of a catalog listing `{"<list>": [{"id": …}, …]}`.
        static func ids(_ json: String, list: String) throws -> [String] {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any], "not JSON: \(json.prefix(300))")
            return (object[list] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
        }

        /// How many instances (any state) carry the cluster's tag: one DescribeInstances, quicker than an inventory.
        static func instanceCount(_ moto: MotoServer, cluster: String) async throws -> Int {
            let reply = try await CurlEC2Query.send(
                "DescribeInstances", [("Filter.1.Name", "tag:" + EC2Inventory.clusterTag), ("Filter.1.Value.1", cluster)],
                endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials)
            try #require(reply.status == 200, "\(reply.body.prefix(300))")
            return reply.body.matches(of: /<instanceId>/).count
        }

        /// An AMI moto knows (it ships Amazon's).
        static func anyAMI(_ moto: MotoServer) async throws -> String {
            let reply = try await CurlEC2Query.send(
                "DescribeImages", [("Owner.1", "amazon")], endpoint: moto.endpoint, region: moto.region, credentials: moto.credentials)
            return try #require(reply.body.firstMatch(of: /<imageId>(ami-[0-9a-f]+)<\/imageId>/).map { String($0.1) })
        }
    }
}
