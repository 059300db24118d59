import Foundation
import PazGuestConfig
import PazLocalServers
@testable import PazQEMUDriver
import PazSchemas
import Testing

/// QMP, pid-file liveness, the cluster switch and the reservations against the real programs
/// (a QEMU with no guest at all: `-machine none`).
@Suite("QEMU processes, QMP, cluster switch")
struct QEMUProcessTests {
    /// A daemonized QEMU with no machine, its QMP socket and pid file in `files`.
    static func launchEmpty(_ files: MachineFiles) async throws {
        try files.create()
        try await QEMUProcess(files: files).launch(binary: "qemu-system-x86_64", arguments: [
            "-machine", "none", "-nodefaults", "-display", "none",
            "-qmp", "unix:\(files.qmpSocket.path),server=on,wait=off", "-pidfile", files.pidFile.path, "-daemonize",
        ])
    }

    /// Whether `pid` has exited (a zombie whose parent, here init, has not reaped it yet counts).
    static func isGone(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
        return stat.split(separator: ")").last?.split(separator: " ").first == "Z"
    }

    /// Whether `pid` exits within `timeout`: QEMU removes its pid file before the process is gone.
    static func becomesGone(_ pid: Int32, within timeout: Duration = .seconds(10)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while !isGone(pid) {
            guard ContinuousClock.now < deadline, (try? await Task.sleep(for: .milliseconds(20))) != nil else { return false }
        }
        return true
    }

    @Test("QMP query-status and quit; liveness from the pid file, never a stale one")
    func qmpLifecycle() async throws {
        let state = try ScratchDirectory.make(prefix: "paz-qemu-qmp")
        defer { try? FileManager.default.removeItem(at: state) }
        let files = MachineFiles(stateDirectory: state, machine: try MachineID("mch_qmptest"))
        let process = QEMUProcess(files: files)
        #expect(process.runningPID == nil)

        try await Self.launchEmpty(files)
        let pid = try #require(process.runningPID)
        let client = QMPClient(socketPath: files.qmpSocket.path)
        #expect(["running", "prelaunch"].contains(try await client.runState()))
        // Sequential clients attach one after another (what a restarted driver does).
        #expect(["running", "prelaunch"].contains(try await client.runState()))
        await #expect(throws: QMPError.self) { try await client.execute("no-such-command") }

        try await client.execute("quit")
        #expect(await process.waitForExit(timeout: .seconds(10)))
        #expect(process.runningPID == nil)
        #expect(await Self.becomesGone(pid))
        await #expect(throws: QMPError.self) { try await client.runState() }

        // A pid file naming a live process that is not this VM's QEMU does not count.
        try "\(getpid())\n".write(to: files.pidFile, atomically: true, encoding: .utf8)
        #expect(process.runningPID == nil)
    }

    @Test("QEMU runs at the niceness asked for (a host busy with VMs keeps the control plane responsive)")
    func niceness() async throws {
        let state = try ScratchDirectory.make(prefix: "paz-qemu-nice")
        defer { try? FileManager.default.removeItem(at: state) }
        let files = MachineFiles(stateDirectory: state, machine: try MachineID("mch_nicetest"))
        try files.create()
        let process = QEMUProcess(files: files)
        try await process.launch(binary: "qemu-system-x86_64", arguments: [
            "-machine", "none", "-nodefaults", "-display", "none",
            "-qmp", "unix:\(files.qmpSocket.path),server=on,wait=off", "-pidfile", files.pidFile.path, "-daemonize",
        ], niceness: 7)
        let pid = try #require(process.runningPID)
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        // Field 19 of /proc/<pid>/stat, counted after the command name's closing parenthesis.
        let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
        #expect(fields.count > 17 && fields[16] == "7", "\(stat)")
        await process.quit(qmpTimeout: .seconds(5))
        #expect(await Self.becomesGone(pid))
    }

    @Test("A QEMU that refuses to start reports what it printed")
    func launchFailure() async throws {
        let state = try ScratchDirectory.make(prefix: "paz-qemu-bad")
        defer { try? FileManager.default.removeItem(at: state) }
        let files = MachineFiles(stateDirectory: state, machine: try MachineID("mch_badlaunch"))
        try files.create()
        await #expect {
            try await QEMUProcess(files: files).launch(binary: "qemu-system-x86_64", arguments: ["-machine", "no-such-board", "-daemonize"])
        } throws: { error in
            guard case QEMUError.launchFailed(_, let log) = error else { return false }
            return log.contains("unsupported machine type")
        }
    }

    @Test("The cluster switch starts once, hands out distinct addresses, and goes with the last machine")
    func clusterNetwork() async throws {
        let state = try ScratchDirectory.make(prefix: "paz-qemu-net")
        defer { try? FileManager.default.removeItem(at: state) }
        let resources = HostResources(stateDirectory: state)
        let cluster = try ClusterID("cls_nettest")
        let (network, first) = try await resources.joinCluster(cluster, machine: try MachineID("mch_a"))
        let (_, second) = try await resources.joinCluster(cluster, machine: try MachineID("mch_b"))
        let again = try await resources.joinCluster(cluster, machine: try MachineID("mch_a")).address
        #expect(first == "10.200.0.11" && second == "10.200.0.12" && again == first)
        let pid = try #require(network.switchPID)
        #expect(FileManager.default.fileExists(atPath: network.switchSocket.appendingPathComponent("ctl").path))

        #expect(await resources.release(try MachineID("mch_a"), cluster: cluster).isEmpty)
        #expect(network.switchPID == pid)
        #expect(await resources.release(try MachineID("mch_b"), cluster: cluster) == ["cluster-network"])
        #expect(network.switchPID == nil)
        #expect(await Self.becomesGone(pid))
        #expect(!FileManager.default.fileExists(atPath: network.directory.path))
    }

    @Test("SSH ports: one per machine, kept, released; never the same twice")
    func sshPorts() async throws {
        let state = try ScratchDirectory.make(prefix: "paz-qemu-ports")
        defer { try? FileManager.default.removeItem(at: state) }
        let resources = HostResources(stateDirectory: state)
        let machines = try (0..<20).map { try MachineID("mch_p\($0)") }
        var ports: [Int] = []
        for machine in machines { ports.append(try await resources.sshPort(for: machine)) }
        #expect(Set(ports).count == machines.count)
        #expect(try await resources.sshPort(for: machines[0]) == ports[0])
        #expect(await resources.release(machines[0], cluster: try ClusterID("cls_none")) == ["ssh-port"])
        #expect(await resources.release(machines[0], cluster: try ClusterID("cls_none")).isEmpty)
    }

    @Test("The command line: loopback-only SSH forward, restricted user net, the cluster switch, the guest config")
    func commandLine() throws {
        let files = MachineFiles(stateDirectory: URL(fileURLWithPath: "/s"), machine: try MachineID("mch_cmd"))
        var line = QEMUCommandLine(
            name: "web-1", accel: .tcg, cpus: 2, memoryMiB: 1024, files: files, guestConfig: .cloudInit, sshPort: 40022,
            primaryMAC: "52:54:00:00:00:01", clusterMAC: "52:54:00:00:00:02", clusterSwitch: URL(fileURLWithPath: "/s/sw"))
        let arguments = line.arguments
        let user = try #require(arguments.first { $0.hasPrefix("user,") })
        #expect(user == "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:40022-:22")
        #expect(arguments.contains("vde,id=net1,sock=/s/sw"))
        #expect(arguments.contains("file=/s/machines/mch_cmd/seed/cidata.iso,if=virtio,format=raw,readonly=on"))
        #expect(arguments.contains("-daemonize") && arguments.contains("tcg"))
        line.guestConfig = .ignitionFlatcar
        line.accel = .kvm
        #expect(line.arguments.contains("name=opt/org.flatcar-linux/config,file=/s/machines/mch_cmd/ignition.json"))
        #expect(line.arguments.contains("kvm") && line.arguments.contains("host"))
        #expect(QEMUCommandLine.macAddress(machine: "m", nic: 0) == QEMUCommandLine.macAddress(machine: "m", nic: 0))
        #expect(QEMUCommandLine.macAddress(machine: "m", nic: 0) != QEMUCommandLine.macAddress(machine: "m", nic: 1))
        #expect(QEMUCommandLine.macAddress(machine: "m", nic: 0).hasPrefix("52:54:00:"))
    }

    @Test("auto acceleration: TCG without a usable /dev/kvm; after a hung KVM boot, TCG from then on")
    func accelVerdict() async {
        let verdict = AccelVerdict()
        #expect(await verdict.choose(.tcg) == (.tcg, false))
        #expect(await verdict.choose(.kvm) == (.kvm, false))
        let first = await verdict.choose(.auto)
        #expect(first == (QEMUAccel.kvmDeviceUsable ? (.kvm, true) : (.tcg, false)))
        await verdict.record(kvmWorks: false)
        #expect(await verdict.choose(.auto) == (.tcg, false))
        #expect(AccelVerdict.consoleShowsProgress("Probing EDD (edd=off to disable)... ok\n[    0.000000] Linux version 6.1"))
        #expect(!AccelVerdict.consoleShowsProgress("SeaBIOS (version 1.16)\nProbing EDD (edd=off to disable)... ok\n"))
    }

    @Test("QMP run states map to machine states", arguments: [
        ("running", MachineState.running), ("shutdown", .stopping), ("paused", .stopped), ("prelaunch", .starting),
        ("guest-panicked", .error), ("something-new", .unknown),
    ])
    func runStates(status: String, expected: MachineState) {
        #expect(QEMUDriver.state(ofRunState: status) == expected)
    }
}
