import Foundation
package import PazDriverKit
import PazSchemas

/// A guest spec as a cloud-init NoCloud seed: `user-data`, `meta-data` and `network-config` on an
/// ISO 9660 volume labelled `cidata`. The YAML documents are written as JSON (a YAML subset), with
/// sorted keys so the same spec always gives the same bytes.
///
/// The seed holds the host private key: its files are 0600 in a 0700 directory, the ISO too.
package struct CloudInitSeed: Sendable {
    /// The volume id cloud-init's NoCloud source looks for.
    package static let volumeID = "cidata"
    /// The ISO's name in the seed directory.
    package static let isoName = "cidata.iso"

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

    /// Netplan-style version 2: each interface matched by MAC address and renamed, DHCP or a static address.
    package func networkConfig() throws(DriverError) -> String {
        try spec.validate()
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

    /// Writes `user-data`, `meta-data` and `network-config` (0600) into `directory`, which is created
    /// or narrowed to 0700.
    package func write(to directory: String) throws(DriverError) {
        let documents = [("user-data", try userData()), ("meta-data", try metaData()), ("network-config", try networkConfig())]
        try SecretFile.makePrivateDirectory(directory)
        for (name, text) in documents {
            try SecretFile.write(Data(text.utf8), to: directory + "/" + name)
        }
    }

    /// Writes the seed files into `directory` and builds ``isoName`` (0600) there from them with
    /// genisoimage (or xorriso, or mkisofs); returns the ISO's path.
    package func makeISO(in directory: String, timeout: Duration = .seconds(60)) async throws(DriverError) -> String {
        guard let tool = Self.isoTools.first(where: { ExternalTool.locate($0.name) != nil }) else {
            throw .unsupported(
                operation: "building the cloud-init seed ISO",
                reason: "none of genisoimage, xorriso, mkisofs is installed: install the Debian package genisoimage")
        }
        try write(to: directory)
        let iso = directory + "/" + Self.isoName
        try SecretFile.write(Data(), to: iso)
        let arguments = tool.prefix + ["-output", iso, "-volid", Self.volumeID, "-joliet", "-rock"]
            + ["user-data", "meta-data", "network-config"].map { directory + "/" + $0 }
        let result: ExternalToolResult
        do {
            result = try await ExternalTool.run(tool.name, arguments, timeout: timeout)
        } catch .timedOut(_, let after) {
            throw .timeout("\(tool.name) did not build \(iso) within \(after)")
        } catch {
            throw .internal("could not build the cloud-init seed ISO: \(error)")
        }
        guard result.status == 0 else {
            throw .internal("\(tool.name) exited with status \(result.status) building \(iso): \(result.standardError.suffix(500))")
        }
        do {
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: iso)
        } catch {
            throw .internal("could not make \(iso) mode 0600: \(error)")
        }
        return iso
    }

    /// ISO 9660 writers taking mkisofs options, in order of preference.
    private static let isoTools: [(name: String, prefix: [String])] = [
        ("genisoimage", []), ("xorriso", ["-as", "mkisofs"]), ("mkisofs", []),
    ]
}
