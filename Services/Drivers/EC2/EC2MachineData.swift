import Foundation

/// What the EC2 driver keeps per machine (driver-data blob, version ``version``). Written before
/// `RunInstances` (so a crash after it leaves a record `rm` and a redelivered create find) and again
/// once the instance is known.
package struct EC2MachineData: Sendable, Hashable, Codable {
    /// The blob's schema version.
    package static let version = 1

    package var endpoint: EC2Endpoint
    /// Nil until `RunInstances` answered.
    package var instanceId: String?
    package var securityGroupId: String
    package var machineName: String
    package var user: String
    /// The host key the SSH broker issued (in the instance's user-data).
    package var hostPublicKey: String
    package var readyWhen: EC2Options.ReadyWhen
    package var sshAddress: EC2Options.AddressKind
    package var bootTimeoutSeconds: Int
    package var instanceType: String
    package var imageId: String
    package var availabilityZone: String?
    package var privateIp: String?
    package var publicIp: String?

    /// The address SSH uses, if the instance has it.
    var sshHost: String? {
        sshAddress == .public ? publicIp : privateIp
    }
}
