import Foundation
package import PazDriverKit
import PazSchemas

/// A guest spec as cloud-init documents: `user-data`, `meta-data` and `network-config`. The YAML
/// documents are written as JSON (a YAML subset), with sorted keys so the same spec always gives the
/// same bytes. The user-data holds the host private key.
package struct CloudInitConfig: Sendable {
    package var spec: GuestSpec

    package init(_ spec: GuestSpec) { self.spec = spec }

    /// `#cloud-config`: the user (passwordless sudo, no password, its authorized keys), no password or
    /// root login, the hostname, and the sshd host identity files with their drop-in.
    package func userData() throws(DriverError) -> String {
        try spec.validate()
        var user: [String: JSONValue] = [
            "name": .string(spec.user), "sudo": "ALL=(ALL) NOPASSWD:ALL", "shell": "/bin/bash", "lock_passwd": true,
        ]
        if !spec.authorizedKeys.isEmpty {
            user["ssh_authorized_keys"] = .array(spec.authorizedKeys.map(JSONValue.string))
        }
        let files: [JSONValue] = spec.sshFiles.map { file in
            [
                "path": .string(file.path), "content": .string(file.contents),
                "permissions": .string("0" + String(file.mode, radix: 8)), "owner": "root:root",
            ]
        }
        // No `ssh_pwauth`: cloud-init would restart sshd for it after boot (its config stage), dropping
        // connections to a VM already reported ready; the drop-in turns password logins off instead.
        let document: JSONValue = [
            "hostname": .string(spec.hostname), "preserve_hostname": false,
            "users": [.object(user)], "disable_root": true,
            "write_files": .array(files),
        ]
        return "#cloud-config\n" + String(decoding: try document.sortedJSON(), as: UTF8.self) + "\n"
    }

    /// `instance-id` and `local-hostname`.
    package func metaData() throws(DriverError) -> String {
        try spec.validate()
        return "instance-id: \(spec.instanceId)\nlocal-hostname: \(spec.hostname)\n"
    }

    /// Netplan-style version 2: each interface matched by MAC address and renamed, DHCP or a static
    /// address. Nil for a spec without interfaces: the provider's datasource configures the network.
    package func networkConfig() throws(DriverError) -> String? {
        try spec.validate()
        guard !spec.interfaces.isEmpty else { return nil }
        var ethernets: [String: JSONValue] = [:]
        for interface in spec.interfaces {
            var ethernet: [String: JSONValue] = [
                "match": ["macaddress": .string(interface.macAddress.lowercased())], "set-name": .string(interface.name),
            ]
            switch interface.addressing {
            case .dhcp:
                ethernet["dhcp4"] = true
            case .static(let cidr):
                ethernet["dhcp4"] = false
                ethernet["addresses"] = [.string(cidr)]
            }
            ethernets[interface.name] = .object(ethernet)
        }
        let document: JSONValue = ["version": 2, "ethernets": .object(ethernets)]
        return String(decoding: try document.sortedJSON(), as: UTF8.self) + "\n"
    }
}
