package import Foundation
package import PazDriverKit

/// A guest's first-boot configuration as the one user-data document a cloud hands a new instance (EC2
/// `UserData`, before its base64 encoding): `#cloud-config` for cloud-init images, an Ignition config
/// for Flatcar and Fedora CoreOS. A cloud VM's spec has no interfaces: the provider's network.
package struct GuestUserData: Sendable {
    /// EC2's limit on user-data, counted before base64 encoding.
    package static let ec2MaximumBytes = 16 * 1024

    package var spec: GuestSpec
    package var kind: GuestConfigKind

    package init(_ spec: GuestSpec, kind: GuestConfigKind) {
        self.spec = spec
        self.kind = kind
    }

    /// The document, unencoded: ``CloudInitConfig/userData()`` or ``IgnitionConfig/data()``.
    package func data() throws(DriverError) -> Data {
        switch kind {
        case .cloudInit: Data(try CloudInitConfig(spec).userData().utf8)
        case .ignitionFlatcar, .ignitionFedoraCoreOS: try IgnitionConfig(spec).data()
        }
    }

    /// ``data()``, refused as an invalid argument naming both sizes when it is larger than `maximumBytes`
    /// (``ec2MaximumBytes`` for EC2).
    package func data(maximumBytes: Int) throws(DriverError) -> Data {
        let data = try data()
        guard data.count <= maximumBytes else {
            throw .invalidArgument(
                field: nil,
                message: "the guest's \(kind.rawValue) user-data is \(data.count) bytes, more than the \(maximumBytes) "
                    + "the provider accepts (fewer authorized keys make it smaller)")
        }
        return data
    }
}
