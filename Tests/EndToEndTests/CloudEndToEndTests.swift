import Foundation
@testable import PazMachineCLI
import PazLocalServers
import PazTestSupport
import Testing

/// The DigitalOcean and Hetzner drivers through the built executables and the cloud simulator, which
/// checks every request and answer against the provider's published OpenAPI description and backs
/// every server with a real sshd on a loopback address of its own (host key, host certificate and
/// user CA from the user-data, as cloud-init or Ignition would install them).
extension EndToEnd {
    @Suite("End to end: the DigitalOcean and Hetzner drivers on the cloud simulator", .serialized)
    struct CloudEndToEndTests {
        /// What differs between the providers in these tests.
        struct Case: Sendable, CustomTestStringConvertible {
            var provider: CloudProvider
            var image: String
            var size: String
            var location: String
            /// A CoreOS-family image: its servers get Ignition instead of cloud-init.
            var ignitionImage: String

            var name: String { provider.rawValue }
            var testDescription: String { name }

            static let all = [
                Case(provider: .digitalOcean, image: "debian-12-x64", size: "s-1vcpu-1gb", location: "nyc3",
                     ignitionImage: "fedora-coreos-40-x64"),
                Case(provider: .hetzner, image: "debian-12", size: "cx22", location: "fsn1", ignitionImage: "190000001"),
            ]
        }

        /// A local stack allowed to call `simulator` as `provider` only, polling fast.
        static func stack(_ prefix: String, _ test: Case, _ simulator: CloudSimulator, extra: [String: String] = [:]) async throws
            -> LocalStackRun
        {
            let variable = test.provider.rawValue.uppercased()
            return try await LocalStackRun.start(prefix: prefix, environment: [
                "\(variable)_ENDPOINT_PREFIXES": endpoint(test, simulator), "\(variable)_POLL_MILLISECONDS": "250",
            ].merging(extra) { $1 })
        }

        /// `cluster create NAME --count N` on the simulator's account `token`, every option given.
        static func create(_ name: String, count: Int, _ test: Case, _ simulator: CloudSimulator, token: String) -> [String] {
            let driver = test.name
            return [
                "cluster", "create", name, "--driver", driver, "--count", String(count), "--\(driver)-token", token,
                "--\(driver)-endpoint", endpoint(test, simulator), "--\(driver)-ssh-cidr", "127.0.0.0/8",
                "--image", test.image, "--size", test.size, "--location", test.location,
            ]
        }

        static func endpoint(_ test: Case, _ simulator: CloudSimulator) -> String {
            test.provider == .digitalOcean ? simulator.digitalOceanEndpoint : simulator.hetznerEndpoint
        }

        @Test("defaults, catalog, create 2 until SSH answers, ssh, probe, stop/start/restart/kill, Ignition, rm: nothing left; a bad token creates nothing",
              arguments: Case.all)
        func lifecycle(_ test: Case) async throws {
            let simulator = try await TestCloudSimulator.shared()
            let token = try await simulator.makeAccount(provider: test.provider)
            let run = try await Self.stack("paz-e2e-\(test.name)", test, simulator)
            try await run.use {
                try #require(run.up.status == 0, "up failed: \(run.up.err)")
                let cli = run.cli
                let driver = test.name

                // The catalog uses the stored defaults: without a token, a clear refusal (422), not a provider error.
                let noToken = try await cli.run(["images", driver])
                #expect(noToken.status != 0 && noToken.err.contains("defaults \(driver) --\(driver)-token"), "\(noToken.err)")

                let defaults = try await cli.run([
                    "defaults", driver, "--\(driver)-token", token, "--\(driver)-endpoint", Self.endpoint(test, simulator),
                    "--\(driver)-ssh-cidr", "127.0.0.0/8",
                ])
                try #require(defaults.status == 0, "\(defaults.err)")
                #expect(!defaults.out.contains(token))

                let images = try await cli.run(["images", driver, "--output", "json"])
                try #require(images.status == 0, "\(images.err)")
                #expect(try EC2EndToEndTests.ids(images.out, list: "images").contains(test.image), "\(images.out.prefix(400))")
                let searched = try await cli.run(["images", driver, "--search", "coreos", "--output", "json"])
                #expect(try EC2EndToEndTests.ids(searched.out, list: "images") == [test.ignitionImage], "\(searched.out.prefix(400))")
                let sizes = try await cli.run(["sizes", driver, "--output", "json"])
                #expect(try EC2EndToEndTests.ids(sizes.out, list: "sizes").contains(test.size), "\(sizes.err)")
                let locations = try await cli.run(["locations", driver, "--output", "json"])
                #expect(try EC2EndToEndTests.ids(locations.out, list: "locations").contains(test.location), "\(locations.err)")

                let created = try await cli.run([
                    "cluster", "create", "sea", "--driver", driver, "--count", "2", "--image", test.image, "--size", test.size,
                    "--location", test.location,
                ])
                try #require(created.status == 0, "\(created.err)")
                let cluster = try #require(try await cli.run(["cluster", "inspect", "sea", "--output", "json"]).object()["id"] as? String)
                var inventory = try await simulator.inventory(provider: test.provider, token: token)
                #expect(inventory.servers.count == 2, "\(inventory)")
                #expect(inventory.sshKeys.count == 1 && inventory.firewalls.count == 1, "\(inventory)")
                #expect(inventory.servers.allSatisfy {
                    $0.tags.contains("paz-cluster:\(cluster)") || $0.labels["paz-cluster"] == cluster
                }, "\(inventory.servers)")

                let hostname = try await cli.run(["ssh", "sea-1", "--", "true"])
                #expect(hostname.status == 0, "\(hostname.err)")
                let probe = try await cli.run(["probe", "sea-2", "--output", "json"])
                #expect(probe.status == 0 && (try? probe.object()["reachable"] as? Bool) == true, "\(probe.out) \(probe.err)")

                #expect(try await cli.run(["stop", "sea-1"]).status == 0)
                #expect(try await QEMUEndToEndTests.state(of: "sea-1", cli) == "stopped")
                #expect(try await cli.run(["ssh", "sea-1", "--", "true"]).status != 0, "a stopped server still answers SSH")
                #expect(try await cli.run(["start", "sea-1"]).status == 0)
                #expect(try await QEMUEndToEndTests.state(of: "sea-1", cli) == "running")
                #expect(try await cli.run(["ssh", "sea-1", "--", "true"]).status == 0)
                #expect(try await cli.run(["restart", "sea-2"]).status == 0)
                #expect(try await cli.run(["kill", "sea-2"]).status == 0)
                #expect(try await QEMUEndToEndTests.state(of: "sea-2", cli) == "stopped")

                // A CoreOS-family image gets Ignition; the simulator's sshd takes the identity from it.
                let core = try await cli.run(["cluster", "create", "core", "--driver", driver, "--image", test.ignitionImage])
                #expect(core.status == 0, "\(core.err)")
                #expect(try await cli.run(["ssh", "core-1", "--", "true"]).status == 0)

                for name in ["sea", "core"] {
                    let removed = try await cli.run(["cluster", "rm", name])
                    #expect(removed.status == 0, "\(removed.err)")
                }
                inventory = try await simulator.inventory(provider: test.provider, token: token)
                #expect(inventory.holdsNothingOfAnyCluster, "left behind: \(inventory)")

                // A token the provider does not know: a clear error, nothing made.
                let refused = try await cli.run(["cluster", "create", "nope", "--driver", driver, "--\(driver)-token", "not-a-token"])
                #expect(refused.status != 0)
                #expect(refused.err.contains("token"), "\(refused.err)")
                _ = try await cli.run(["cluster", "rm", "nope"])
                #expect(try await simulator.inventory(provider: test.provider, token: token).holdsNothingOfAnyCluster)
                #expect(try await simulator.violations(provider: test.provider, token: token).isEmpty,
                        "requests or answers outside the provider's API description")
                #expect(!(try String(contentsOf: run.data.appendingPathComponent("logs/paz-driver-\(driver).log"), encoding: .utf8))
                    .contains(token), "the token is in the driver's log")
            }
        }

        @Test("kill -9 of the driver during a 20-machine create, then a restart: exactly 20 servers, one per machine",
              arguments: Case.all)
        func driverCrash(_ test: Case) async throws {
            let simulator = try await TestCloudSimulator.shared()
            let token = try await simulator.makeAccount(provider: test.provider)
            let run = try await Self.stack("paz-e2e-\(test.name)-crash", test, simulator)
            try await run.use {
                try #require(run.up.status == 0, "up failed: \(run.up.err)")
                let driver = test.name
                let accepted = try await run.cli.run(
                    Self.create("crash", count: 20, test, simulator, token: token)
                        + ["--no-wait", "--output", "json", "--\(driver)-ready-when", "running"])
                try #require(accepted.status == 0, "\(accepted.err)")
                let operation = try #require(try accepted.object()["id"] as? String)

                // The driver dies once between 1 and 12 servers exist: some creates done, some under way.
                let killAt = Int.random(in: 1...12)
                let deadline = ContinuousClock.now + .seconds(60)
                while try await simulator.inventory(provider: test.provider, token: token).servers.count < killAt && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(20))
                }
                var atKill = 0
                try await run.killAndRestart("paz-driver-\(driver)") {
                    atKill = try await simulator.inventory(provider: test.provider, token: token).servers.count
                }
                let waited = try await run.cli.run(["ops", "wait", operation])
                #expect(waited.status == 0, "the create did not complete after the restart (killed with \(atKill) made): \(waited.err)")

                let servers = try await simulator.inventory(provider: test.provider, token: token).servers
                let machines = Dictionary(grouping: servers) { $0.labels["paz-machine"] ?? $0.tags.first { $0.hasPrefix("paz-machine:") } ?? "" }
                #expect(servers.count == 20, "killed with \(atKill) made: \(servers.count) servers")
                #expect(machines.count == 20 && machines.values.allSatisfy { $0.count == 1 }, "\(machines.mapValues(\.count))")

                #expect(try await run.cli.run(["cluster", "rm", "crash"]).status == 0)
                let left = try await simulator.inventory(provider: test.provider, token: token)
                #expect(left.holdsNothingOfAnyCluster, "left behind: \(left)")
                #expect(try await simulator.violations(provider: test.provider, token: token).isEmpty)
            }
        }

        @Test("429 on the catalog, 503 on listings and 500 on the firewall create are retried; a cluster over the account's limit makes nothing",
              arguments: Case.all)
        func retries(_ test: Case) async throws {
            let simulator = try await TestCloudSimulator.shared()
            let token = try await simulator.makeAccount(provider: test.provider)
            let run = try await Self.stack("paz-e2e-\(test.name)-faults", test, simulator)
            try await run.use {
                try #require(run.up.status == 0, "up failed: \(run.up.err)")
                let prefix = test.provider == .digitalOcean ? "/v2" : ""
                let servers = test.provider == .digitalOcean ? "droplets" : "servers"
                try await simulator.injectFaults(
                    provider: test.provider, token: token, method: "GET", pathPattern: "^\(prefix)/(sizes|server_types)", status: 429,
                    count: 2, retryAfterSeconds: 1)
                try await simulator.injectFaults(
                    provider: test.provider, token: token, method: "POST", pathPattern: "^\(prefix)/firewalls$", status: 500, count: 1,
                    retryAfterSeconds: nil)
                try await simulator.injectFaults(
                    provider: test.provider, token: token, method: "GET", pathPattern: "^\(prefix)/\(servers)", status: 503, count: 2,
                    retryAfterSeconds: nil)
                let created = try await run.cli.run(Self.create("flaky", count: 1, test, simulator, token: token))
                try #require(created.status == 0, "\(created.err)")
                var inventory = try await simulator.inventory(provider: test.provider, token: token)
                #expect(inventory.servers.count == 1 && inventory.firewalls.count == 1, "\(inventory)")
                #expect(try await run.cli.run(["cluster", "rm", "flaky"]).status == 0)
                inventory = try await simulator.inventory(provider: test.provider, token: token)
                #expect(inventory.holdsNothingOfAnyCluster, "left behind: \(inventory)")
                #expect(try await simulator.violations(provider: test.provider, token: token).isEmpty)

                // An account that may hold 3 servers: a cluster of 4 is refused before anything is made.
                let limited = try await simulator.makeAccount(provider: test.provider, serverLimit: 3)
                let refused = try await run.cli.run(Self.create("big", count: 4, test, simulator, token: limited))
                #expect(refused.status != 0)
                if test.provider == .digitalOcean {
                    #expect(refused.err.contains("limit"), "\(refused.err)")
                    #expect(try await simulator.inventory(provider: test.provider, token: limited).servers.isEmpty)
                } else {
                    // Hetzner publishes no limit: it refuses the create over it, so three are made.
                    #expect(refused.err.contains("resource_limit_exceeded"), "\(refused.err)")
                }
                #expect(try await run.cli.run(["cluster", "rm", "big"]).status == 0)
                #expect(try await simulator.inventory(provider: test.provider, token: limited).holdsNothingOfAnyCluster)
            }
        }
    }
}
