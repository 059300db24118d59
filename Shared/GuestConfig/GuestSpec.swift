import Foundation
package import PazDriverKit
package import PazSchemas

/// What a new VM must know at first boot: its identity, its login user, the SSH host identity from the
/// broker and its network interfaces. Rendered for cloud-init (``CloudInitConfig``) or Ignition
/// (``IgnitionConfig``), or as one provider user-data document (``GuestUserData``). `description` and
/// `dump` never show the host private key.
package struct GuestSpec: Sendable, Hashable {
    /// The machine id: cloud-init's instance id, stable across reboots.
    package var instanceId: String
    /// The machine name, an RFC 1123 label.
    package var hostname: String
    /// The default login user (passwordless sudo, bash, no password).
    package var user: String
    /// Extra OpenSSH public key lines authorized for `user` (may be empty).
    package var authorizedKeys: [String]
    /// The tenant's user CA line, sshd's `TrustedUserCAKeys`.
    package var userCAPublicKey: String
    /// OpenSSH private key text of the host key.
    package var hostPrivateKey: SecretText
    package var hostPublicKey: String
    /// The host certificate line (`…-cert-v01@openssh.com …`).
    package var hostCertificate: String
    /// The NICs to configure. Empty: the provider's network, configured by the guest's own datasource
    /// or DHCP (a cloud VM); then no network configuration is rendered.
    package var interfaces: [GuestInterface]

    package init(
        instanceId: String, hostname: String, user: String, authorizedKeys: [String] = [], userCAPublicKey: String,
        hostPrivateKey: SecretText, hostPublicKey: String, hostCertificate: String, interfaces: [GuestInterface]
    ) {
        self.instanceId = instanceId
        self.hostname = hostname
        self.user = user
        self.authorizedKeys = authorizedKeys
        self.userCAPublicKey = userCAPublicKey
        self.hostPrivateKey = hostPrivateKey
        self.hostPublicKey = hostPublicKey
        self.hostCertificate = hostCertificate
        self.interfaces = interfaces
    }

    /// Checks what ends up in YAML, INI and sshd files verbatim; errors name the field.
    package func validate() throws(DriverError) {
        try Self.require(instanceId, matches: "[A-Za-z0-9][A-Za-z0-9._-]{0,127}", field: "instanceId",
                         "letters, digits, '.', '_' and '-'")
        try Self.require(hostname, matches: "[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", field: "hostname",
                         "an RFC 1123 label: lowercase letters, digits and inner '-', at most 63")
        try Self.require(user, matches: "[a-z_][a-z0-9_-]{0,31}", field: "user", "a POSIX user name")
        guard user != "root" else {
            throw .invalidArgument(field: "user", message: "the login user cannot be root (root login is disabled)")
        }
        let lines = [("userCAPublicKey", userCAPublicKey), ("hostPublicKey", hostPublicKey), ("hostCertificate", hostCertificate)]
            + authorizedKeys.enumerated().map { ("authorizedKeys[\($0.offset)]", $0.element) }
        for (field, line) in lines where line.isEmpty || line.contains(where: \.isNewline) {
            throw .invalidArgument(field: field, message: "\(field) must be one non-empty OpenSSH key line")
        }
        guard hostPrivateKey.value.contains("PRIVATE KEY") else {
            throw .invalidArgument(field: "hostPrivateKey", message: "hostPrivateKey is not an OpenSSH private key")
        }
        for (index, interface) in interfaces.enumerated() {
            try interface.validate(field: "interfaces[\(index)]")
        }
        guard Set(interfaces.map(\.name)).count == interfaces.count,
              Set(interfaces.map { $0.macAddress.lowercased() }).count == interfaces.count
        else {
            throw .invalidArgument(field: "interfaces", message: "interface names and MAC addresses must be unique")
        }
    }

    static func require(_ value: String, matches pattern: String, field: String, _ expected: String) throws(DriverError) {
        guard value.range(of: "^\(pattern)$", options: .regularExpression) != nil else {
            throw .invalidArgument(field: field, message: "\(field) '\(value)' is invalid: expected \(expected)")
        }
    }
}
