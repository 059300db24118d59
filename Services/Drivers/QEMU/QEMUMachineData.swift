import Foundation
package import PazGuestConfig
import PazSchemas

/// What the QEMU driver keeps per machine (driver-data blob, version ``version``): how to boot the
/// VM again and how to reach it. Whether it runs is never stored; it is read from the host.
package struct QEMUMachineData: Sendable, Hashable, Codable {
    /// The blob's schema version.
    package static let version = 1
    package var machineName: String
    package var user: String
    /// The forwarded loopback port of the VM's SSH.
    package var sshPort: Int
    /// The host key the broker issued (and the guest was given): the only key accepted.
    package var hostPublicKey: String
    /// The VM's address on the cluster network.
    package var clusterAddress: String
    package var cpus: Int
    package var memoryMiB: Int
    package var guestConfig: GuestConfigKind
    package var accel: QEMUAccel
    package var bootTimeoutSeconds: Int
    package var primaryMAC: String
    package var clusterMAC: String
    /// The image it was made from.
    package var imageURL: String
}
