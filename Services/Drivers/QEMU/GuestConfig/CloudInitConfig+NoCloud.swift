import Foundation
package import PazDriverKit
package import PazGuestConfig

/// The cloud-init documents as a NoCloud seed: `user-data`, `meta-data` and `network-config` on an
/// ISO 9660 volume labelled `cidata`, attached to the VM as a read-only disk.
///
/// The seed holds the host private key: its files are 0600 in a 0700 directory, the ISO too.
extension CloudInitConfig {
    /// The volume id cloud-init's NoCloud source looks for.
    package static let volumeID = "cidata"
    /// The ISO's name in the seed directory.
    package static let isoName = "cidata.iso"

    /// Writes `user-data`, `meta-data` and `network-config` (0600) into `directory`, which is created
    /// or narrowed to 0700; returns their paths. The spec must have an interface (``GuestSpec/validateForQEMU()``).
    @discardableResult
    package func write(to directory: String) throws(DriverError) -> [String] {
        try spec.validateForQEMU()
        var documents = [("user-data", try userData()), ("meta-data", try metaData())]
        if let networkConfig = try networkConfig() {
            documents.append(("network-config", networkConfig))
        }
        try SecretFile.makePrivateDirectory(directory)
        var paths: [String] = []
        for (name, text) in documents {
            paths.append(directory + "/" + name)
            try SecretFile.write(Data(text.utf8), to: directory + "/" + name)
        }
        return paths
    }

    /// Writes the seed files into `directory` and builds ``isoName`` (0600) there from them with
    /// genisoimage (or xorriso, or mkisofs); returns the ISO's path.
    package func makeISO(in directory: String, timeout: Duration = .seconds(60)) async throws(DriverError) -> String {
        guard let tool = Self.isoTools.first(where: { ExternalTool.locate($0.name) != nil }) else {
            throw .unsupported(
                operation: "building the cloud-init seed ISO",
                reason: "none of genisoimage, xorriso, mkisofs is installed: install the Debian package genisoimage")
        }
        let files = try write(to: directory)
        let iso = directory + "/" + Self.isoName
        try SecretFile.write(Data(), to: iso)
        let arguments = tool.prefix + ["-output", iso, "-volid", Self.volumeID, "-joliet", "-rock"] + files
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
