import ArgumentParser
import Foundation
import PazControlPlane
import PazLocalServers
import PazMachineCLI
import PazSchemas

/// `ssh-overhead`: `paz-machine ssh m -- true` (credentials from the broker, then the system ssh)
/// against plain `ssh -i key … true` to the same loopback sshd, in the same run.
struct SSHOverheadBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh-overhead",
        abstract: "paz-machine ssh m -- true versus plain ssh to the same sshd (target ratio ≤ 1.3); broker issue latency p50/p99.")

    @Option(help: "Logins of each kind (alternating).")
    var runs = 20

    @Option(help: "Credentials issued directly through the broker for the latency figures.")
    var issues = 200

    func run() async throws {
        let ratio = try await withStack { stack in
            let scratch = try ScratchDirectory.make(prefix: "paz-bench-ssh")
            defer { try? FileManager.default.removeItem(at: scratch) }
            let host = "127.0.0.2"
            let port = try LoopbackNetwork.freePort(host: host)
            let machine = try await stack.seedCluster(name: "bench", machines: 1) { _ in
                SSHEndpoint(host: host, port: port, user: SSHServer.defaultUser)
            }[0]
            // The host identity, as the generic driver asks it while creating a machine (here a
            // stand-in without details: the broker gives drivers identities only for those).
            let creating = try await stack.seedCluster(name: "bench-creating", machines: 1)[0]
            let tenant = try await stack.tenantId()
            let identity = try await stack.withAMQP(as: .driver("generic")) { amqp in
                try await SSHBrokerClient(amqp: amqp).hostIdentity(tenant: tenant, machine: creating, principals: [host])
            }
            let latencies = try await stack.withAMQP(as: .gateway) { amqp in
                let broker = SSHBrokerClient(amqp: amqp)
                var latencies: [Duration] = []
                for _ in 0..<issues {
                    let started = ContinuousClock.now
                    _ = try await broker.userCredentials(
                        tenant: tenant, UserCredentialsRequest(machine: machine, principal: SSHServer.defaultUser))
                    latencies.append(ContinuousClock.now - started)
                }
                return latencies
            }
            let server = try SSHServer(host: host, port: port, certified: .init(
                hostPrivateKey: identity.hostPrivateKey.value, hostCertificate: identity.hostCertificate,
                userCAPublicKey: identity.userCAPublicKey))
            let keyFile = scratch.appendingPathComponent("id").path
            try HelperCommand.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile])
            try server.authorize(publicKeys: [try String(contentsOfFile: keyFile + ".pub", encoding: .utf8)])
            try await server.start()
            defer { Task { await server.stop() } }
            let knownHosts = scratch.appendingPathComponent("known_hosts")
            try Data("@cert-authority [\(host)]:\(port) \(identity.hostCAPublicKey)\n".utf8).write(to: knownHosts)

            let bin = CLIContext.runningExecutable().deletingLastPathComponent()
            let paz = [bin.appendingPathComponent("paz-machine").path,
                       "ssh", "--config", stack.root.appendingPathComponent("config.json").path, "bench-1", "--", "true"]
            let plain = ["/usr/bin/ssh", "-F", "/dev/null", "-i", keyFile, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                         "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile=\(knownHosts.path)",
                         "-o", "GlobalKnownHostsFile=/dev/null", "-p", String(port), "\(server.user)@\(host)", "true"]
            _ = try Self.time(paz, in: scratch)
            _ = try Self.time(plain, in: scratch)
            var pazTimes: [Duration] = []
            var plainTimes: [Duration] = []
            for _ in 0..<runs {
                pazTimes.append(try Self.time(paz, in: scratch))
                plainTimes.append(try Self.time(plain, in: scratch))
            }
            let pazMedian = Self.percentile(pazTimes, 50)
            let plainMedian = Self.percentile(plainTimes, 50)
            print("paz-machine ssh m -- true: median \(format(Self.ms(pazMedian), 1)) ms over \(runs) runs")
            print("plain ssh … true:          median \(format(Self.ms(plainMedian), 1)) ms over \(runs) runs")
            print("broker user-credentials issue (\(issues) calls): p50 \(format(Self.ms(Self.percentile(latencies, 50)))) ms, "
                + "p99 \(format(Self.ms(Self.percentile(latencies, 99)))) ms")
            return Self.ms(pazMedian) / Self.ms(plainMedian)
        }
        print("ssh-overhead: \(format(ratio, 2)) ratio")
    }

    /// Runs `command` to its end (it must exit 0) and returns how long it took.
    static func time(_ command: [String], environment: [String: String] = [:], in directory: URL) throws -> Duration {
        let started = ContinuousClock.now
        let process = try ManagedProcess(
            executable: command[0], arguments: Array(command.dropFirst()), environment: environment,
            logFile: directory.appendingPathComponent("run.log"))
        let status = process.waitUntilExit()
        let elapsed = ContinuousClock.now - started
        guard status == 0 else { throw BenchError("\(command[0]) exited with \(status): \(process.logTail())") }
        return elapsed
    }

    static func percentile(_ values: [Duration], _ percent: Int) -> Duration {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, sorted.count * percent / 100)]
    }

    static func ms(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}
