import Foundation
package import PazDriverKit
package import PazGuestConfig

extension IgnitionConfig {
    /// Writes the config to `path`, mode 0600 (it holds the host private key). The spec must have an
    /// interface (``GuestSpec/validateForQEMU()``).
    package func write(to path: String) throws(DriverError) {
        try spec.validateForQEMU()
        try SecretFile.write(try data(), to: path)
    }
}

/// Where the distribution's Ignition reads its config on QEMU: a firmware config (`-fw_cfg`) key.
extension IgnitionFlavor {
    /// The `-fw_cfg` name.
    package var fwCfgName: String {
        switch self {
        case .flatcar: "opt/org.flatcar-linux/config"
        case .fedoraCoreOS: "opt/com.coreos/config"
        }
    }

    /// QEMU arguments handing the config file at `path` to the guest (commas doubled, as QEMU's
    /// option syntax requires).
    package func qemuArguments(configPath path: String) -> [String] {
        ["-fw_cfg", "name=\(fwCfgName),file=\(path.replacingOccurrences(of: ",", with: ",,"))"]
    }
}
