package import Foundation
import PazLocalServers
package import PazSchemas

/// The private network of one cluster: a VDE switch (`vde_switch`, an unprivileged user-space
/// Ethernet switch on a unix socket) that every VM of the cluster plugs its second NIC into, with
/// addresses from ``subnet`` handed out one per machine. Nothing of it touches a host interface: it
/// exists only between the cluster's QEMU processes.
package struct ClusterNetwork: Sendable {
    /// Every cluster network uses this /24 (they are isolated from each other); `.1` is never given.
    package static let subnetPrefix = "10.200.0."
    package static let prefixLength = 24
    /// The host part of the first machine's address.
    static let firstHost = 11

    package let directory: URL

    package init(stateDirectory: URL, cluster: ClusterID) {
        directory = stateDirectory.appendingPathComponent("clusters").appendingPathComponent(cluster.rawValue)
    }

    /// The switch's control socket (a directory, as vde_switch makes it).
    package var switchSocket: URL { directory.appendingPathComponent("switch") }
    var pidFile: URL { directory.appendingPathComponent("switch.pid") }
    var consoleFIFO: URL { directory.appendingPathComponent("switch.console") }
    private var addresses: Reservations { Reservations(directory: directory.appendingPathComponent("addresses")) }

    /// The switch's pid while it runs.
    package var switchPID: Int32? {
        QEMUProcess.livePID(in: pidFile) { $0 == switchSocket.path }
    }

    /// Starts the switch unless it runs.
    ///
    /// vde_switch runs in the foreground (its `--daemon` mode logs only to syslog, so a failure
    /// would leave no trace), in a process group of its own so that it outlives the driver, with
    /// its console on a FIFO it holds open itself (at end-of-file on stdin it would quit) and its
    /// output in `switch.log`.
    func ensureSwitch() async throws(QEMUError) {
        guard switchPID == nil else { return }
        do {
            try FileManager.default.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .filesystem("cannot create \(directory.path): \(error)")
        }
        try? FileManager.default.removeItem(at: switchSocket)
        try? FileManager.default.removeItem(at: consoleFIFO)
        guard mkfifo(consoleFIFO.path, 0o600) == 0 else {
            throw .filesystem("cannot create \(consoleFIFO.path): \(String(cString: strerror(errno)))")
        }
        guard let vdeSwitch = ExternalTool.locate("vde_switch") else { throw .tool(.notFound("vde_switch")) }
        let process: ManagedProcess
        do {
            process = try ManagedProcess(
                executable: "/bin/sh",
                arguments: ["-c", "exec \"$0\" --sock \"$1\" --mode 0600 0<>\"$2\"", vdeSwitch, switchSocket.path, consoleFIFO.path],
                logFile: directory.appendingPathComponent("switch.log"))
        } catch {
            throw .launchFailed("the cluster switch (vde_switch)", log: "\(error)")
        }
        do {
            try "\(process.pid)\n".write(to: pidFile, atomically: true, encoding: .utf8)
        } catch {
            process.signalGroup(SIGKILL)
            throw .filesystem("cannot write \(pidFile.path): \(error)")
        }
        let control = switchSocket.appendingPathComponent("ctl").path
        let deadline = ContinuousClock.now + .seconds(30)
        while switchPID == nil || !FileManager.default.fileExists(atPath: control) {
            guard process.isRunning, ContinuousClock.now < deadline else {
                process.signalGroup(SIGKILL)
                throw .launchFailed("the cluster switch (vde_switch)", log: process.logTail())
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// The address (`10.200.0.N`) of `machine`, claimed on first use.
    func address(for machine: MachineID) throws(QEMUError) -> String {
        let owner = machine.rawValue
        if let held = addresses.held(by: owner) { return Self.subnetPrefix + String(held) }
        for host in Self.firstHost...254 where try addresses.claim(host, for: owner) {
            return Self.subnetPrefix + String(host)
        }
        throw .exhausted("the cluster network \(Self.subnetPrefix)0/\(Self.prefixLength) has no address left")
    }

    /// Gives `machine`'s address back; when no machine is left, stops the switch and deletes the
    /// network. Returns true when the network was deleted.
    @discardableResult
    func release(_ machine: MachineID) async -> Bool {
        addresses.release(owner: machine.rawValue)
        guard addresses.entries().isEmpty else { return false }
        if let pid = switchPID {
            _ = Foundation.kill(pid, SIGTERM)
            let deadline = ContinuousClock.now + .seconds(5)
            while switchPID != nil && ContinuousClock.now < deadline {
                _ = waitpid(pid, nil, WNOHANG)  // reaps it when this process started it
                try? await Task.sleep(for: .milliseconds(50))
            }
            if let pid = switchPID { _ = Foundation.kill(pid, SIGKILL) }
        }
        try? FileManager.default.removeItem(at: directory)
        let clusters = directory.deletingLastPathComponent()
        if (try? FileManager.default.contentsOfDirectory(atPath: clusters.path))?.isEmpty == true {
            try? FileManager.default.removeItem(at: clusters)
        }
        return true
    }
}
