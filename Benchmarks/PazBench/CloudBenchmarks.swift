import ArgumentParser
import Foundation
import PazLocalServers

/// `cloud-create`: `paz-machine cluster create --driver digitalocean|hetzner --count N` until every
/// machine answers SSH with its issued host key (the driver's default `ready-when=ssh`), then
/// `paz-machine cluster rm` until the simulator holds nothing of the account — against the cloud
/// simulator on loopback, provider actions taking 1 s.
struct CloudCreateBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cloud-create",
        abstract: "Create N machines until SSH answers and remove them, on the DigitalOcean or Hetzner simulator "
            + "(targets: 20 SSH-ready ≤ 6 s, destroyed ≤ 4 s).")

    @Option(help: "digitalocean or hetzner.")
    var provider: String = "digitalocean"

    @Option(help: "Machines.")
    var count = 20

    func run() async throws {
        guard let cloud = CloudProvider(rawValue: provider) else {
            throw ValidationError("--provider must be digitalocean or hetzner, not \(provider)")
        }
        let simulator = try await CloudSimulator.start(options: .init(actionSeconds: 1))
        do {
            try await measure(cloud, simulator)
            await simulator.stop()
        } catch {
            await simulator.stop()
            throw error
        }
    }

    private func measure(_ cloud: CloudProvider, _ simulator: CloudSimulator) async throws {
        let endpoint = cloud == .digitalOcean ? simulator.digitalOceanEndpoint : simulator.hetznerEndpoint
        let variable = cloud.rawValue.uppercased()
        let stack = try await BenchStack.start(environment: ["\(variable)_ENDPOINT_PREFIXES": endpoint])
        do {
            let scratch = try ScratchDirectory.make(prefix: "paz-bench-cloud")
            defer { try? FileManager.default.removeItem(at: scratch) }
            try await stack.raiseQuota(to: count + 10)
            let token = try await simulator.makeAccount(provider: cloud, serverLimit: count + 10)
            let options = [
                "--\(cloud.rawValue)-token", token, "--\(cloud.rawValue)-endpoint", endpoint,
                "--\(cloud.rawValue)-ssh-cidr", "127.0.0.0/8",
            ]
            func cycle(_ name: String, count: Int) async throws -> (create: Double, remove: Double) {
                let create = try time(stack.cli(["cluster", "create"], [name, "--driver", cloud.rawValue, "--count", String(count)] + options),
                                      in: scratch)
                let made = try await simulator.inventory(provider: cloud, token: token)
                guard made.servers.count == count else {
                    throw BenchError("\(name): the simulator holds \(made.servers.count) servers after create, expected \(count)")
                }
                let remove = try time(stack.cli(["cluster", "rm"], [name]), in: scratch)
                let left = try await simulator.inventory(provider: cloud, token: token)
                guard left.holdsNothingOfAnyCluster else { throw BenchError("\(name): left after rm: \(left)") }
                return (create, remove)
            }
            _ = try await cycle("warm", count: 1)
            let headline = try await cycle("bench", count: count)
            guard try await simulator.violations().isEmpty else {
                throw BenchError("the simulator saw requests or answers outside the provider's API description")
            }
            print("\(count) \(cloud.rawValue) machines: SSH-ready in \(format(headline.create, 2)) s, destroyed in \(format(headline.remove, 2)) s")
            print("\(count)-machine destroy: \(format(headline.remove, 2)) s")
            print("cloud-create: \(format(headline.create, 2)) s")
            await stack.stop()
        } catch {
            await stack.stop()
            throw error
        }
    }

    /// Seconds until `command` exits (it must succeed).
    private func time(_ command: [String], in directory: URL) throws -> Double {
        SSHOverheadBenchmark.ms(try SSHOverheadBenchmark.time(command, in: directory)) / 1000
    }
}
