package import Configuration
package import Foundation
package import PazServiceKit

/// The QEMU driver service's own settings (besides ``DriverServiceConfiguration``):
///
/// | key | env | default |
/// |---|---|---|
/// | `qemu.stateDirectory` | `QEMU_STATE_DIRECTORY` | `$XDG_STATE_HOME/paz-machine/qemu` (root: `/var/lib/paz-machine/qemu`) |
/// | `qemu.imageCacheDirectory` | `QEMU_IMAGE_CACHE_DIRECTORY` | `<stateDirectory>/images` |
/// | `qemu.binary` | `QEMU_BINARY` | `qemu-system-x86_64` |
/// | `qemu.kvmProbeSeconds` | `QEMU_KVM_PROBE_SECONDS` | `15` (how long `auto` waits for kernel output under KVM) |
package struct QEMUSettings: Sendable {
    package var stateDirectory: URL
    package var imageCacheDirectory: URL
    package var binary: String
    package var kvmProbeWindow: Duration

    /// Settings given directly (tests).
    package init(stateDirectory: URL, imageCacheDirectory: URL? = nil, binary: String = "qemu-system-x86_64",
                 kvmProbeWindow: Duration = .seconds(15)) {
        self.stateDirectory = stateDirectory
        self.imageCacheDirectory = imageCacheDirectory ?? stateDirectory.appendingPathComponent("images")
        self.binary = binary
        self.kvmProbeWindow = kvmProbeWindow
    }

    /// Reads the settings.
    package init(reader: ConfigReader) throws(ServiceKitError) {
        let state = URL(fileURLWithPath: try reader.value("qemu.stateDirectory", default: Self.defaultStateDirectory))
        let cache = try reader.value("qemu.imageCacheDirectory", default: state.appendingPathComponent("images").path)
        self.init(
            stateDirectory: state, imageCacheDirectory: URL(fileURLWithPath: cache),
            binary: try reader.value("qemu.binary", default: "qemu-system-x86_64"),
            kvmProbeWindow: .seconds(try reader.value("qemu.kvmProbeSeconds", default: 15, in: 1...600)))
    }

    static var defaultStateDirectory: String {
        if getuid() == 0 { return "/var/lib/paz-machine/qemu" }
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_STATE_HOME"] ?? (NSHomeDirectory() + "/.local/state")
        return base + "/paz-machine/qemu"
    }
}
