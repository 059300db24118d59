package import Configuration
package import Foundation
import PazDriverKit
package import PazServiceKit

/// The QEMU driver service's own settings (besides ``DriverServiceConfiguration``):
///
/// | key | env | default |
/// |---|---|---|
/// | `qemu.stateDirectory` | `QEMU_STATE_DIRECTORY` | `$XDG_STATE_HOME/paz-machine/qemu` (root: `/var/lib/paz-machine/qemu`) |
/// | `qemu.imageCacheDirectory` | `QEMU_IMAGE_CACHE_DIRECTORY` | `<stateDirectory>/images` |
/// | `qemu.binary` | `QEMU_BINARY` | `qemu-system-x86_64` |
/// | `qemu.kvmProbeSeconds` | `QEMU_KVM_PROBE_SECONDS` | `15` (how long `auto` waits for kernel output under KVM) |
/// | `qemu.niceness` | `QEMU_NICENESS` | `10`: VMs run at this CPU niceness (0–19), so a host busy booting them keeps the control plane responsive |
/// | `qemu.imageFileDirectories` | `QEMU_IMAGE_FILE_DIRECTORIES` | none: comma-separated absolute directories below which `file://` images may be read |
/// | `qemu.imageUrlPrefixes` | `QEMU_IMAGE_URL_PREFIXES` | none: comma-separated `http(s)://host[:port][/path]` prefixes images may be downloaded from |
/// | `qemu.imageMaxBytes` | `QEMU_IMAGE_MAX_BYTES` | `8589934592` (8 GiB): a larger download is stopped |
///
/// The last three are the ``ImageSourcePolicy`` (docs/security.md, "Safe targets").
package struct QEMUSettings: Sendable {
    package var stateDirectory: URL
    package var imageCacheDirectory: URL
    package var binary: String
    package var kvmProbeWindow: Duration
    /// The niceness QEMU runs at (0: the driver's own). Booting VMs under TCG use every core they
    /// get; at a lower priority than RabbitMQ, Redis and the services they cannot starve them.
    package var niceness = 10
    package var imageSources: ImageSourcePolicy

    /// Settings given directly (tests).
    package init(stateDirectory: URL, imageCacheDirectory: URL? = nil, binary: String = "qemu-system-x86_64",
                 kvmProbeWindow: Duration = .seconds(15), imageSources: ImageSourcePolicy = ImageSourcePolicy()) {
        self.stateDirectory = stateDirectory
        self.imageCacheDirectory = imageCacheDirectory ?? stateDirectory.appendingPathComponent("images")
        self.binary = binary
        self.kvmProbeWindow = kvmProbeWindow
        self.imageSources = imageSources
    }

    /// Reads the settings.
    package init(reader: ConfigReader) throws(ServiceKitError) {
        let state = URL(fileURLWithPath: try reader.value("qemu.stateDirectory", default: Self.defaultStateDirectory))
        let cache = try reader.value("qemu.imageCacheDirectory", default: state.appendingPathComponent("images").path)
        self.init(
            stateDirectory: state, imageCacheDirectory: URL(fileURLWithPath: cache),
            binary: try reader.value("qemu.binary", default: "qemu-system-x86_64"),
            kvmProbeWindow: .seconds(try reader.value("qemu.kvmProbeSeconds", default: 15, in: 1...600)),
            imageSources: try Self.imageSources(reader))
        niceness = try reader.value("qemu.niceness", default: 10, in: 0...19)
    }

    private static func imageSources(_ reader: ConfigReader) throws(ServiceKitError) -> ImageSourcePolicy {
        func list(_ key: String, expected: String, _ isValid: (String) -> Bool) throws(ServiceKitError) -> [String] {
            let entries = try reader.value(key, default: "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
                .filter { !$0.isEmpty }
            if let invalid = entries.first(where: { !isValid($0) }) {
                throw .invalidConfiguration(
                    key: key, environmentVariable: ConfigurationSources.environmentVariable(for: key), value: "'\(invalid)'", expected: expected)
            }
            return entries
        }
        let directories = try list(ImageSourcePolicy.Setting.fileDirectories.rawValue,
                                   expected: "comma-separated absolute directory paths") { $0.hasPrefix("/") }
        let prefixes = try list(ImageSourcePolicy.Setting.urlPrefixes.rawValue,
                                expected: "comma-separated http(s)://host[:port][/path] prefixes (no user, query or fragment)") {
            URLPrefix($0) != nil
        }
        let maxBytes = try reader.value(ImageSourcePolicy.Setting.maxBytes.rawValue, default: Int(ImageSourcePolicy.defaultMaxBytes),
                                        in: 1...(1 << 44))
        return ImageSourcePolicy(fileDirectories: directories, urlPrefixes: prefixes.compactMap(URLPrefix.init), maxBytes: Int64(maxBytes))
    }

    static var defaultStateDirectory: String {
        if getuid() == 0 { return "/var/lib/paz-machine/qemu" }
        let environment = ProcessInfo.processInfo.environment
        let base = environment["XDG_STATE_HOME"] ?? (NSHomeDirectory() + "/.local/state")
        return base + "/paz-machine/qemu"
    }
}
