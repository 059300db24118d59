package import PazDriverKit

/// How a guest reads its first-boot configuration: cloud-init or Ignition, which each image (QEMU
/// catalog entry, cloud machine image) dictates. The raw values are the drivers' `guest-config` create
/// option values and are stored in driver data: never change them.
package enum GuestConfigKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// cloud-init (``CloudInitConfig``): Debian, Ubuntu, most cloud images. QEMU: a NoCloud seed ISO;
    /// a cloud: `#cloud-config` user-data (``GuestUserData``).
    case cloudInit = "cloud-init"
    /// Ignition (``IgnitionConfig``) on Flatcar.
    case ignitionFlatcar = "ignition-flatcar"
    /// Ignition (``IgnitionConfig``) on Fedora CoreOS.
    case ignitionFedoraCoreOS = "ignition-fcos"

    /// The distribution that reads an Ignition config; nil for cloud-init.
    package var ignitionFlavor: IgnitionFlavor? {
        switch self {
        case .cloudInit: nil
        case .ignitionFlatcar: .flatcar
        case .ignitionFedoraCoreOS: .fedoraCoreOS
        }
    }
}

extension GuestConfigKind {
    /// The `guest-config` create option of a cloud driver: nil when absent (the image decides).
    package init?(option options: CreateOptionValues, name: String = "guest-config") throws(DriverError) {
        guard let text = options.optionalString(name) else { return nil }
        guard let choice = GuestConfigKind(rawValue: text) else {
            let allowed = GuestConfigKind.allCases.map(\.rawValue).joined(separator: ", ")
            throw .invalidArgument(field: name, message: "\(name) must be one of \(allowed), not '\(text)'")
        }
        self = choice
    }
}

/// A distribution configured by Ignition. Both get the same config (``IgnitionConfig``) and read it
/// from a cloud's user-data alike; only where they look for it elsewhere differs (on QEMU, the
/// firmware config key).
package enum IgnitionFlavor: Sendable, Hashable {
    case flatcar
    case fedoraCoreOS
}
