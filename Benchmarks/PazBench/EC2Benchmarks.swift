import ArgumentParser
import Foundation
import Logging
import PazEC2Driver
import PazGatewayAPI
import PazHTTP
import PazLocalServers
import PazMachineCLI

/// `ec2-create`: `paz-machine cluster create --driver ec2 --count N` (`ready-when=running`) until every
/// machine runs, and `paz-machine cluster rm` until every instance is terminated and the cluster's
/// security group is gone, against moto on loopback with signature checking on.
struct EC2CreateBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ec2-create",
        abstract: "Create and remove N EC2 machines on moto (targets: 20 created ≤ 8 s and removed ≤ 8 s; 100 ≤ 2× that).")

    @Option(help: "Machines of the headline case.")
    var count = 20

    @Option(help: "Machines of the large case (0: skip).")
    var large = 100

    func run() async throws {
        let moto = try await MotoServer.start()
        do {
            try await measure(moto)
            await moto.stop()
        } catch {
            await moto.stop()
            throw error
        }
    }

    private func measure(_ moto: MotoServer) async throws {
        let stack = try await BenchStack.start(environment: ["EC2_ENDPOINT_PREFIXES": moto.endpoint])
        do {
            let scratch = try ScratchDirectory.make(prefix: "paz-bench-ec2")
            defer { try? FileManager.default.removeItem(at: scratch) }
            try await stack.raiseQuota(to: max(count, large) + 10)
            let client = try inventoryClient(moto)
            let ami = try await client.images(owners: ["amazon"]).first { $0.id.hasPrefix("ami-") }?.id
            guard let ami else { throw BenchError("moto lists no AMI") }
            let cli = EC2BenchCLI(stack: stack, moto: moto, ami: ami, directory: scratch)

            _ = try await cli.cycle("warm", count: 1, client: client)
            let headline = try await cli.cycle("ec2-\(count)", count: count, client: client)
            print("\(count) machines: created in \(format(headline.create, 2)) s, removed in \(format(headline.remove, 2)) s")
            if large > 0 {
                let big = try await cli.cycle("ec2-\(large)", count: large, client: client)
                print("\(large) machines: created in \(format(big.create, 2)) s (\(format(big.create / headline.create, 2))× the \(count)), "
                    + "removed in \(format(big.remove, 2)) s (\(format(big.remove / headline.remove, 2))×)")
            }
            print("\(count)-machine remove: \(format(headline.remove, 2)) s")
            print("ec2-create: \(format(headline.create, 2)) s")
            await stack.stop()
        } catch {
            await stack.stop()
            throw error
        }
    }

    /// A client of moto, for the AMI and the check that nothing is left.
    private func inventoryClient(_ moto: MotoServer) throws -> EC2Client {
        var logger = Logger(label: "paz-bench.ec2")
        logger.logLevel = .warning
        let http = HTTPClient(configuration: .init(retry: .none, threadName: "paz-bench-ec2"), logger: logger)
        return EC2Client(
            endpoint: EC2Endpoint(url: moto.endpoint, region: moto.region),
            credentials: AWSCredentials(accessKeyId: moto.credentials.accessKeyID, secretAccessKey: moto.credentials.secretAccessKey),
            http: http, retry: RetryPolicy(), logger: logger)
    }
}

/// Timed `paz-machine` runs against one bench stack and moto.
private struct EC2BenchCLI {
    let stack: BenchStack
    let moto: MotoServer
    let ami: String
    let directory: URL

    /// Creates and removes a cluster of `count`; checks that every instance ran and then was
    /// terminated, and that no security group of the cluster is left. Returns both times in seconds.
    func cycle(_ name: String, count: Int, client: EC2Client) async throws -> (create: Double, remove: Double) {
        let create = try time(["cluster", "create"], [
            name, "--driver", "ec2", "--count", String(count), "--image", ami, "--size", "t3.micro",
            "--ec2-endpoint", moto.endpoint, "--ec2-region", moto.region, "--ec2-ssh-cidr", "203.0.113.0/24",
            "--ec2-ready-when", "running",
        ])
        let tagged = try await client.instances([EC2Filter("tag:Name", (1...count).map { "\(name)-\($0)" })])
        let running = tagged.filter { $0.state == "running" }
        guard running.count == count else {
            throw BenchError("\(name): \(running.count) running instances after create, expected \(count) (\(tagged.count) tagged)")
        }
        let remove = try time(["cluster", "rm"], [name])
        let after = try await client.instances([EC2Filter("instance-id", running.map(\.id))])
        guard after.count == count, after.allSatisfy({ $0.state == "terminated" }) else {
            throw BenchError("\(name): instances not all terminated after rm: \(after.map(\.state))")
        }
        let clusters = Set(running.compactMap { $0.tag(EC2Tags.cluster) })
        let groups = try await client.securityGroups([EC2Filter("tag:\(EC2Tags.cluster)", Array(clusters))])
        guard groups.isEmpty else { throw BenchError("\(name): security groups left after rm: \(groups.map(\.id))") }
        return (create, remove)
    }

    /// Runs `paz-machine COMMAND ARGS` with the moto credentials in its environment; seconds to exit.
    private func time(_ command: [String], _ arguments: [String]) throws -> Double {
        let elapsed = try SSHOverheadBenchmark.time(
            stack.cli(command, arguments),
            environment: [
                "PAZ_EC2_ACCESS_KEY_ID": moto.credentials.accessKeyID, "PAZ_EC2_SECRET_ACCESS_KEY": moto.credentials.secretAccessKey,
            ],
            in: directory)
        return SSHOverheadBenchmark.ms(elapsed) / 1000
    }
}

extension BenchStack {
    /// Lets the tenant `default` hold `machines` machines (admin API).
    func raiseQuota(to machines: Int) async throws {
        let admin = try String(contentsOf: stack.adminTokenFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try await CLIContext.withClient(gateway: state.gatewayURL, token: admin) { client in
            _ = try await client.setTenantQuota(path: .init(tenant: LocalStack.tenant), body: .json(.init(machines: machines))).ok
        }
    }
}
