import Foundation
import PazGatewayAPI

/// A certificate from the gateway and the private key of the public key it certifies.
struct IssuedCredentials: Sendable {
    var credentials: Components.Schemas.SSHCredentials
    /// OpenSSH private key file text.
    var privateKey: String
}

/// Broker-issued credentials written for the OpenSSH client: the private key (`id`, 0600), its
/// certificate (`id-cert.pub`) and the `@cert-authority` known_hosts line, in a directory only the
/// user may enter (0700).
struct SSHCredentialFiles: Sendable {
    let directory: URL
    let credentials: Components.Schemas.SSHCredentials

    var identity: URL { directory.appendingPathComponent("id") }
    var certificate: URL { directory.appendingPathComponent("id-cert.pub") }
    var knownHosts: URL { directory.appendingPathComponent("known_hosts") }

    /// Writes `issued` into `directory` (created 0700; replaced files keep mode 0600).
    init(_ issued: IssuedCredentials, in directory: URL) throws(CLIError) {
        let privateKey = issued.privateKey
        let credentials = issued.credentials
        self.directory = directory
        self.credentials = credentials
        do {
            try FileManager.default.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: directory.path)
        } catch {
            throw .file("cannot create \(directory.path): \(error)")
        }
        try PrivateFile.write(Data((privateKey.hasSuffix("\n") ? privateKey : privateKey + "\n").utf8), to: identity)
        try PrivateFile.write(Data((credentials.certificate + "\n").utf8), to: certificate)
        try PrivateFile.write(Data((credentials.knownHosts + "\n").utf8), to: knownHosts)
    }

    /// A fresh private directory for one command's credentials (under `$XDG_RUNTIME_DIR` when set).
    static func temporaryDirectory(environment: [String: String]) -> URL {
        let base = environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory
        return base.appendingPathComponent("paz-ssh-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
    }

    /// Deletes the files and the directory.
    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }

    /// `-o` options for ssh/scp: this key and certificate only, hosts verified through the tenant's
    /// host CA (no prompt, no trust on first use) as the machine's name — the principal every driver
    /// puts in its host certificate, also where the address was unknown when it was issued (a cloud
    /// instance) —, no connection sharing, no user or system config.
    var clientOptions: [String] {
        [
            "-F", "/dev/null",
            "-o", "IdentityFile=\(identity.path)",
            "-o", "CertificateFile=\(certificate.path)",
            "-o", "IdentitiesOnly=yes",
            "-o", "IdentityAgent=none",
            "-o", "UserKnownHostsFile=\(knownHosts.path)",
            "-o", "HostKeyAlias=\(credentials.machine)",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "UpdateHostKeys=no",
            "-o", "ControlMaster=no",
            "-o", "ControlPath=none",
            "-o", "BatchMode=yes",
            "-o", "Port=\(credentials.port)",
            "-o", "User=\(credentials.user)",
        ]
    }

    /// An OpenSSH `Host` block for `alias` using these files.
    func hostBlock(alias: String) -> String {
        """
        Host \(alias)
          HostName \(credentials.host)
          Port \(credentials.port)
          User \(credentials.user)
          IdentityFile \(identity.path)
          CertificateFile \(certificate.path)
          IdentitiesOnly yes
          UserKnownHostsFile \(knownHosts.path)
          HostKeyAlias \(credentials.machine)
          StrictHostKeyChecking yes

        """
    }
}
