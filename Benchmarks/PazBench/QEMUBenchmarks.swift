import ArgumentParser
import Foundation
import PazGuestConfig
import PazLocalServers
import PazMachineCLI
import PazQEMUDriver
import PazSchemas

/// What the QEMU cases share: the locally built test image and timed `paz-machine` commands.
struct QEMUBenchOptions: ParsableArguments {
    @Option(help: "The test image (deploy/images/build-debian-test-image.sh builds it; its .sha256 sits next to it).")
    var image = (ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache"))
        + "/paz-machine/test-images/debian-12-paz-test.qcow2"

    @Option(help: "Boots of each kind.")
    var runs = 2

    @Option(help: "vCPUs per VM.")
    var cpus = 2

    @Option(help: "Memory per VM, MiB.")
    var memory = 1024

    /// The image's SHA-256 from its `.sha256` file.
    func digest() throws -> String {
        let line = try String(contentsOfFile: image + ".sha256", encoding: .utf8)
        return String(line.prefix { !$0.isWhitespace })
    }

    /// `paz-machine cluster create NAME --driver qemu --count N` under TCG, timed to its success.
    func createCluster(_ name: String, count: Int, stack: BenchStack, in directory: URL) throws -> Duration {
        try SSHOverheadBenchmark.time(stack.cli(["cluster", "create"], [
            name, "--driver", "qemu", "--count", String(count), "--qemu-accel", "tcg",
            "--qemu-cpus", String(cpus), "--qemu-memory", String(memory),
            "--qemu-image-url", "file://" + image, "--qemu-image-digest", "sha256:" + (try digest()),
        ]), in: directory)
    }

    func removeCluster(_ name: String, stack: BenchStack, in directory: URL) throws {
        _ = try SSHOverheadBenchmark.time(stack.cli(["cluster", "rm"], [name]), in: directory)
    }

    /// Brings the stack up, warms the image cache (the first create copies and verifies the image),
    /// then times `first` and `second` alternately, ``runs`` times each.
    func alternate(
        _ first: (Int, BenchStack, URL) async throws -> Duration, _ second: (Int, BenchStack, URL) async throws -> Duration
    ) async throws -> (first: [Duration], second: [Duration]) {
        try await withStack { stack in
            let scratch = try ScratchDirectory.make(prefix: "paz-bench-qemu")
            defer { try? FileManager.default.removeItem(at: scratch) }
            _ = try timeCluster("warm", count: 1, stack: stack, in: scratch)
            var firsts: [Duration] = []
            var seconds: [Duration] = []
            for index in 0..<runs {
                firsts.append(try await first(index, stack, scratch))
                seconds.append(try await second(index, stack, scratch))
            }
            return (firsts, seconds)
        }
    }

    /// The median in seconds.
    static func median(_ runs: [Duration]) -> Double { SSHOverheadBenchmark.ms(SSHOverheadBenchmark.percentile(runs, 50)) / 1000 }

    /// `[a, b] s, median m s`.
    static func describe(_ runs: [Duration]) -> String {
        "\(runs.map { format(SSHOverheadBenchmark.ms($0) / 1000, 1) }) s, median \(format(median(runs), 1)) s"
    }

    /// Creates and removes `name` with `count` VMs; returns how long the create took.
    func timeCluster(_ name: String, count: Int, stack: BenchStack, in directory: URL) throws -> Duration {
        let elapsed = try createCluster(name, count: count, stack: stack, in: directory)
        try removeCluster(name, stack: stack, in: directory)
        return elapsed
    }
}

extension BenchStack {
    /// `paz-machine COMMAND… --config <this stack's> ARGS…`.
    func cli(_ command: [String], _ arguments: [String]) -> [String] {
        let bin = CLIContext.runningExecutable().deletingLastPathComponent()
        return [bin.appendingPathComponent("paz-machine").path] + command
            + ["--config", root.appendingPathComponent("config.json").path] + arguments
    }
}

/// `qemu-boot`: boot-to-SSH of one VM through `paz-machine cluster create` (the whole path: command,
/// gateway, driver, image cache, broker identity, cloud-init seed, QEMU, SSH check) versus the same
/// image booted by a bare `qemu-system-x86_64` with a hand-made cloud-init seed until `ssh` answers.
struct QEMUBootBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu-boot", abstract: "Boot-to-SSH of one VM through paz-machine versus bare QEMU + cloud-init (target ratio ≤ 1.15).")

    @OptionGroup var options: QEMUBenchOptions

    func run() async throws {
        let (ours, bare) = try await options.alternate({ index, stack, scratch in
            try options.timeCluster("boot\(index)", count: 1, stack: stack, in: scratch)
        }, { index, _, scratch in
            try await BareBoot(options: options, directory: scratch.appendingPathComponent("bare\(index)")).run()
        })
        print("paz-machine cluster create (1 VM, TCG, \(options.cpus) vCPU): \(QEMUBenchOptions.describe(ours))")
        print("bare qemu + cloud-init until ssh answers:           \(QEMUBenchOptions.describe(bare))")
        print("qemu-boot: \(format(QEMUBenchOptions.median(ours) / QEMUBenchOptions.median(bare), 2)) ratio")
    }
}

/// `qemu-cluster`: creating a 3-VM cluster versus a 1-VM cluster (VMs boot concurrently).
struct QEMUClusterBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "qemu-cluster", abstract: "Creating a 3-VM cluster versus a 1-VM cluster (target ratio ≤ 1.5).")

    @OptionGroup var options: QEMUBenchOptions

    func run() async throws {
        let (one, three) = try await options.alternate({ index, stack, scratch in
            try options.timeCluster("one\(index)", count: 1, stack: stack, in: scratch)
        }, { index, stack, scratch in
            try options.timeCluster("three\(index)", count: 3, stack: stack, in: scratch)
        })
        print("1-VM cluster: \(QEMUBenchOptions.describe(one))")
        print("3-VM cluster: \(QEMUBenchOptions.describe(three))")
        print("qemu-cluster: \(format(QEMUBenchOptions.median(three) / QEMUBenchOptions.median(one), 2)) ratio")
    }
}

/// One VM booted by hand the way the driver boots it (same image, same QEMU arguments, an
/// equivalent cloud-init seed with a plain authorized key), timed from `qemu-system-x86_64` until
/// `ssh … true` succeeds.
struct BareBoot {
    let options: QEMUBenchOptions
    let directory: URL

    func run() async throws -> Duration {
        let machine = try MachineID("mch_bare\(UInt32.random(in: 0...UInt32.max))")
        let files = MachineFiles(stateDirectory: directory, machine: machine)
        try files.create()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await OverlayCreator().create(at: files.overlay, base: URL(fileURLWithPath: options.image), diskGiB: nil)
        let key = directory.appendingPathComponent("id").path
        try HelperCommand.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key])
        let hostKey = directory.appendingPathComponent("host").path
        let ca = directory.appendingPathComponent("ca").path
        for file in [hostKey, ca] { try HelperCommand.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file]) }
        try HelperCommand.run("ssh-keygen", ["-q", "-s", ca, "-I", "bare", "-h", "-n", "127.0.0.1", hostKey + ".pub"])
        func line(_ path: String) throws -> String {
            try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        let port = try LoopbackNetwork.freePort()
        let spec = GuestSpec(
            instanceId: machine.rawValue, hostname: "bare", user: "paz",
            authorizedKeys: [try line(key + ".pub")], userCAPublicKey: try line(ca + ".pub"),
            hostPrivateKey: SecretText(try String(contentsOfFile: hostKey, encoding: .utf8)),
            hostPublicKey: try line(hostKey + ".pub"), hostCertificate: try line(hostKey + "-cert.pub"),
            interfaces: [GuestInterface(name: "eth0", macAddress: "52:54:00:be:00:01", addressing: .dhcp)])
        _ = try await CloudInitConfig(spec).makeISO(in: files.seedDirectory.path)
        let commandLine = QEMUCommandLine(
            name: "bare", accel: .tcg, cpus: options.cpus, memoryMiB: options.memory, files: files, guestConfig: .cloudInit,
            sshPort: port, primaryMAC: "52:54:00:be:00:01", clusterMAC: "52:54:00:be:00:02", clusterSwitch: nil)
        let started = ContinuousClock.now
        try await QEMUProcess(files: files).launch(binary: "qemu-system-x86_64", arguments: commandLine.arguments)
        defer { Task { await QEMUProcess(files: files).forceKill() } }
        let ssh = ["/usr/bin/ssh", "-F", "/dev/null", "-i", key, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
                   "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=5",
                   "-o", "LogLevel=ERROR", "-p", String(port), "paz@127.0.0.1", "true"]
        let deadline = started + .seconds(600)
        while ContinuousClock.now < deadline {
            if (try? SSHOverheadBenchmark.time(ssh, in: directory)) != nil {
                let elapsed = ContinuousClock.now - started
                await QEMUProcess(files: files).forceKill()
                return elapsed
            }
            try await Task.sleep(for: .milliseconds(250))
        }
        throw BenchError("the bare VM did not answer SSH within 10 minutes (console: \(files.console.path))")
    }
}
