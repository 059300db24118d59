import Foundation

/// What a cloud driver keeps per machine (driver-data blob, version ``version``). Written before the
/// server is created (so a crash after it leaves a record that `rm` and a redelivered create find)
/// and again once the server is known.
package struct CloudMachineData: Sendable, Hashable, Codable {
    /// The blob's schema version.
    package static let version = 1

    package var endpoint: String
    /// Nil until the provider answered the create.
    package var serverId: String?
    package var serverName: String
    package var user: String
    /// The host key the SSH broker issued (in the server's user-data).
    package var hostPublicKey: String
    package var readyWhen: CloudOptions.ReadyWhen
    package var bootTimeoutSeconds: Int
    package var size: String
    package var image: String
    package var region: String
    package var sshKeyId: String
    package var firewallId: String
    package var publicIp: String?
    package var privateIp: String?
}
