package import Foundation
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
    private var addresses: Reservations { Reservations(directory: directory.appendingPathComponent("addresses")) }

    /// The switch's pid while it runs.
    package var switchPID: Int32? {
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
              let commandLine = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
        else { return nil }
        let arguments = commandLine.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return arguments.contains(switchSocket.path) ? pid : nil
    }

    /// Starts the switch unless it runs.
    func ensureSwitch() async throws(QEMUError) {
        guard switchPID == nil else { return }
        do {
            try FileManager.default.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .filesystem("cannot create \(directory.path): \(error)")
        }
        try? FileManager.default.removeItem(at: switchSocket)
        let result: ExternalToolResult
        do {
            result = try await ExternalTool.run(
                "vde_switch", ["--sock", switchSocket.path, "--mode", "0600", "--pidfile", pidFile.path, "--daemon"],
                timeout: .seconds(20))
        } catch {
            throw .tool(error)
        }
        guard result.succeeded else {
            throw .launchFailed("the cluster switch (vde_switch)", log: result.standardError + result.standardOutput)
        }
        // vde_switch has daemonized; on a loaded host its child may take a while to write the pid
        // file and open the control socket.
        let control = switchSocket.appendingPathComponent("ctl").path
        let deadline = ContinuousClock.now + .seconds(30)
        while switchPID == nil || !FileManager.default.fileExists(atPath: control) {
            guard ContinuousClock.now < deadline else {
                let pid = (try? String(contentsOf: pidFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "none"
                throw .launchFailed(
                    "the cluster switch (vde_switch)",
                    log: "after 30 s: pid file \(pid), process \(switchPID.map(String.init) ?? "not running"), "
                        + "control socket \(FileManager.default.fileExists(atPath: control) ? "present" : "missing"); "
                        + (result.standardError + result.standardOutput))
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
            while switchPID != nil && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
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
