import Foundation
package import PazDriverKit
package import PazSchemas

/// What a new VM must know at first boot: its identity, its login user, the SSH host identity from the
/// broker and its network interfaces. Rendered as a cloud-init NoCloud seed (``CloudInitSeed``) or an
/// Ignition config (``IgnitionConfig``). `description` and `dump` never show the host private key.
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
        guard !interfaces.isEmpty else {
            throw .invalidArgument(field: "interfaces", message: "a guest needs at least one network interface")
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

/// One virtual NIC of the guest, matched by MAC address and renamed to `name`.
package struct GuestInterface: Sendable, Hashable {
    /// How the interface gets its IPv4 address.
    package enum Addressing: Sendable, Hashable {
        case dhcp
        /// A fixed address with prefix length, e.g. `10.200.0.11/24` (no gateway: a private network).
        case `static`(cidr: String)
    }

    /// The name the guest gives the interface (`eth0`, `eth1`).
    package var name: String
    /// `52:54:00:xx:xx:xx`.
    package var macAddress: String
    package var addressing: Addressing

    package init(name: String, macAddress: String, addressing: Addressing) {
        self.name = name
        self.macAddress = macAddress
        self.addressing = addressing
    }

    func validate(field: String) throws(DriverError) {
        try GuestSpec.require(name, matches: "[a-z][a-z0-9]{0,14}", field: field + ".name", "an interface name like eth1")
        try GuestSpec.require(macAddress, matches: "[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}", field: field + ".macAddress",
                              "six colon-separated hex octets")
        if case .static(let cidr) = addressing {
            let octet = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
            try GuestSpec.require(cidr, matches: "\(octet)(\\.\(octet)){3}/([0-9]|[12][0-9]|3[0-2])",
                                  field: field + ".addressing", "an IPv4 address with prefix length, e.g. 10.200.0.11/24")
        }
    }
}

/// Writes files that hold the host private key: created 0600 (never wider, not even for a moment),
/// without following a symlink planted at the path.
enum SecretFile {
    static func write(_ data: Data, to path: String) throws(DriverError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .internal("could not create \(path): \(String(cString: strerror(errno)))")
        }
        // An existing file keeps its mode through O_CREAT.
        guard fchmod(descriptor, 0o600) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw .internal("could not make \(path) mode 0600: \(reason)")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: data)
            try handle.close()
        } catch {
            throw .internal("could not write \(path): \(error)")
        }
    }

    /// Creates `path` (and its parents) if needed and makes it 0700.
    static func makePrivateDirectory(_ path: String) throws(DriverError) {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path)
        } catch {
            throw .internal("could not create the private directory \(path): \(error)")
        }
    }
}

/// A file both renderers (cloud-init, Ignition) place in the guest, owned by root.
struct GuestFile {
    var path: String
    var contents: String
    var mode: Int
}

extension GuestSpec {
    /// The sshd drop-in; sshd keeps the first value it reads, and `00-` sorts before the distribution's own.
    static let sshdDropIn = """
        # Paz: the host identity from the SSH broker and the tenant's user CA.
        HostKey /etc/ssh/paz_host_key
        HostCertificate /etc/ssh/paz_host_key-cert.pub
        TrustedUserCAKeys /etc/ssh/paz_user_ca.pub
        PasswordAuthentication no

        """

    /// sshd's host key, public key and certificate, the user CA and the drop-in that uses them.
    var sshFiles: [GuestFile] {
        [
            GuestFile(path: "/etc/ssh/paz_host_key", contents: Self.line(hostPrivateKey.value), mode: 0o600),
            GuestFile(path: "/etc/ssh/paz_host_key.pub", contents: Self.line(hostPublicKey), mode: 0o644),
            GuestFile(path: "/etc/ssh/paz_host_key-cert.pub", contents: Self.line(hostCertificate), mode: 0o644),
            GuestFile(path: "/etc/ssh/paz_user_ca.pub", contents: Self.line(userCAPublicKey), mode: 0o644),
            GuestFile(path: "/etc/ssh/sshd_config.d/00-paz.conf", contents: Self.sshdDropIn, mode: 0o644),
        ]
    }

    /// OpenSSH wants key files to end with a newline.
    private static func line(_ text: String) -> String { text.hasSuffix("\n") ? text : text + "\n" }
}

extension JSONValue {
    /// Deterministic JSON: sorted keys, `/` unescaped.
    func sortedJSON() throws(DriverError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(self)
        } catch {
            throw .internal("could not encode guest configuration JSON: \(error)")
        }
    }
}
