package import Foundation
package import PazGuestConfig

/// The `qemu-system-x86_64` arguments of one VM: daemonized, headless, serial console to a file,
/// QMP on a unix socket; the disk is the machine's overlay; NIC 1 is user-mode networking with only
/// SSH forwarded from 127.0.0.1 (`restrict=on`: the guest reaches nothing outside), NIC 2 (when the
/// machine is in a cluster network) plugs into the cluster's VDE switch.
package struct QEMUCommandLine: Sendable, Hashable {
    package var name: String
    package var accel: QEMUAccel
    package var cpus: Int
    package var memoryMiB: Int
    package var files: MachineFiles
    package var guestConfig: GuestConfigKind
    package var sshPort: Int
    package var primaryMAC: String
    package var clusterMAC: String
    package var clusterSwitch: URL?

    package init(
        name: String, accel: QEMUAccel, cpus: Int, memoryMiB: Int, files: MachineFiles, guestConfig: GuestConfigKind,
        sshPort: Int, primaryMAC: String, clusterMAC: String, clusterSwitch: URL?
    ) {
        self.name = name
        self.accel = accel
        self.cpus = cpus
        self.memoryMiB = memoryMiB
        self.files = files
        self.guestConfig = guestConfig
        self.sshPort = sshPort
        self.primaryMAC = primaryMAC
        self.clusterMAC = clusterMAC
        self.clusterSwitch = clusterSwitch
    }

    /// The arguments (without the binary).
    package var arguments: [String] {
        var arguments = [
            "-name", "paz-\(name)",
            "-machine", "pc", "-accel", accel == .kvm ? "kvm" : "tcg", "-cpu", accel == .kvm ? "host" : "max",
            "-smp", String(cpus), "-m", String(memoryMiB),
            "-nodefaults", "-display", "none", "-no-user-config",
            "-serial", "file:\(files.console.path)",
            "-drive", "file=\(files.overlay.path),if=virtio,format=qcow2,discard=unmap",
            "-device", "virtio-rng-pci",
            "-netdev", "user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:\(sshPort)-:22",
            "-device", "virtio-net-pci,netdev=net0,mac=\(primaryMAC)",
            "-qmp", "unix:\(files.qmpSocket.path),server=on,wait=off",
            "-pidfile", files.pidFile.path,
            "-daemonize",
        ]
        if let clusterSwitch {
            arguments += ["-netdev", "vde,id=net1,sock=\(clusterSwitch.path)", "-device", "virtio-net-pci,netdev=net1,mac=\(clusterMAC)"]
        }
        if let flavor = guestConfig.ignitionFlavor {
            arguments += flavor.qemuArguments(configPath: files.ignition.path)
        } else {
            arguments += ["-drive", "file=\(files.seed.path),if=virtio,format=raw,readonly=on"]
        }
        return arguments
    }

    /// A stable locally administered MAC (QEMU's 52:54:00 prefix) for `machine`'s NIC `index`.
    package static func macAddress(machine: String, nic index: Int) -> String {
        var hash: UInt32 = 2_166_136_261  // FNV-1a: stable across runs and hosts
        for byte in "\(machine)/\(index)".utf8 {
            hash = (hash ^ UInt32(byte)) &* 16_777_619
        }
        let bytes = [UInt8(truncatingIfNeeded: hash >> 16), UInt8(truncatingIfNeeded: hash >> 8), UInt8(truncatingIfNeeded: hash)]
        return "52:54:00:" + bytes.map { String(format: "%02x", $0) }.joined(separator: ":")
    }
}
