package import Foundation
package import PazGuestConfig
package import PazSchemas

/// Where one VM's files live: `<state>/machines/<machine id>/` (0700) with the overlay disk, the
/// guest configuration (seed ISO or Ignition file), QEMU's QMP socket, pid file and serial console
/// log. The directory is the VM's ground truth on this host: a restarted driver finds running VMs
/// through it (pid file + QMP socket), never through a saved flag.
package struct MachineFiles: Sendable, Hashable {
    package let directory: URL

    package init(stateDirectory: URL, machine: MachineID) {
        directory = stateDirectory.appendingPathComponent("machines").appendingPathComponent(machine.rawValue)
    }

    package var overlay: URL { file("disk.qcow2") }
    /// The cloud-init NoCloud files and the seed ISO made of them (``CloudInitConfig``).
    package var seedDirectory: URL { file("seed") }
    package var seed: URL { seedDirectory.appendingPathComponent(CloudInitConfig.isoName) }
    package var ignition: URL { file("ignition.json") }
    package var qmpSocket: URL { file("qmp.sock") }
    package var pidFile: URL { file("qemu.pid") }
    package var console: URL { file("console.log") }
    /// QEMU's own stderr of the last launch (why it refused to start).
    package var launchLog: URL { file("launch.log") }

    private func file(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// Whether the guest configuration of `kind` has been written.
    package func hasGuestConfig(_ kind: GuestConfigKind) -> Bool {
        FileManager.default.fileExists(atPath: (kind == .cloudInit ? seed : ignition).path)
    }

    /// Whether anything of the machine is on disk.
    package var exists: Bool { FileManager.default.fileExists(atPath: directory.path) }

    /// Creates the directory (0700: the seed holds the host's private key).
    package func create() throws(QEMUError) {
        do {
            try FileManager.default.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .filesystem("cannot create \(directory.path): \(error)")
        }
        // A unix socket path is limited to 107 bytes; say so now rather than let QEMU fail obscurely.
        guard qmpSocket.path.utf8.count <= 107 else {
            throw .filesystem("the state directory path is too long for QEMU's QMP socket (\(qmpSocket.path)); choose a shorter qemu.stateDirectory")
        }
    }

    /// Deletes everything of the machine.
    package func remove() throws(QEMUError) {
        guard exists else { return }
        do {
            try FileManager.default.removeItem(at: directory)
        } catch {
            throw .filesystem("cannot delete \(directory.path): \(error)")
        }
    }
}
