package import Foundation
package import PazDriverKit
import PazSchemas

/// A guest spec as an Ignition config (spec 3.4.0) for Flatcar and Fedora CoreOS: the user in
/// `sudo` (passwordless on both), the same sshd files as ``CloudInitConfig`` (both distributions' sshd
/// reads `sshd_config.d`), `/etc/hostname`, and for each statically addressed interface both a
/// systemd-networkd `.network` file (Flatcar) and a NetworkManager keyfile (Fedora CoreOS), matched by
/// MAC address; each distribution ignores the other's. DHCP interfaces need nothing: both use DHCP by
/// default, which is also all a spec without interfaces (a cloud VM) gets. Interfaces keep the
/// distribution's names (no `set-name`).
package struct IgnitionConfig: Sendable {
    /// The `ignition.version` this config declares.
    package static let specVersion = "3.4.0"

    package var spec: GuestSpec

    package init(_ spec: GuestSpec) { self.spec = spec }

    /// The config as JSON with sorted keys.
    package func data() throws(DriverError) -> Data {
        try spec.validate()
        var user: [String: JSONValue] = ["name": .string(spec.user), "groups": ["sudo"], "shell": "/bin/bash"]
        if !spec.authorizedKeys.isEmpty {
            user["sshAuthorizedKeys"] = .array(spec.authorizedKeys.map(JSONValue.string))
        }
        let files = spec.sshFiles + [GuestFile(path: "/etc/hostname", contents: spec.hostname + "\n", mode: 0o644)]
            + spec.interfaces.flatMap(Self.networkFiles)
        let document: JSONValue = [
            "ignition": ["version": .string(Self.specVersion)],
            "passwd": ["users": [.object(user)]],
            "storage": ["files": .array(files.map(Self.file))],
        ]
        return try document.sortedJSON()
    }

    private static func file(_ file: GuestFile) -> JSONValue {
        [
            "path": .string(file.path), "mode": .number(Double(file.mode)), "overwrite": true,
            "contents": ["source": .string("data:;base64," + Data(file.contents.utf8).base64EncodedString())],
        ]
    }

    private static func networkFiles(_ interface: GuestInterface) -> [GuestFile] {
        guard case .static(let cidr) = interface.addressing else { return [] }
        let mac = interface.macAddress.lowercased()
        let networkd = "[Match]\nMACAddress=\(mac)\n\n[Network]\nDHCP=no\nAddress=\(cidr)\n"
        let keyfile = """
            [connection]
            id=paz-\(interface.name)
            type=ethernet

            [ethernet]
            mac-address=\(mac)

            [ipv4]
            method=manual
            address1=\(cidr)

            [ipv6]
            method=disabled

            """
        return [
            GuestFile(path: "/etc/systemd/network/10-paz-\(interface.name).network", contents: networkd, mode: 0o644),
            // NetworkManager ignores keyfiles that others can read.
            GuestFile(path: "/etc/NetworkManager/system-connections/paz-\(interface.name).nmconnection",
                      contents: keyfile, mode: 0o600),
        ]
    }
}
