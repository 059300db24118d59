import Foundation
import PazDriverKit
import PazSchemas
import PazSSH

/// Installs on an existing machine, over SSH, what lets clients trust it through the tenant's CAs:
/// the broker's host key and host certificate and the tenant's user CA, with an sshd drop-in
/// (`paz-<machine>.conf`: `HostKey`, `HostCertificate`, `TrustedUserCAKeys`), then reloads sshd; and
/// removes them again at `rm`. Privileged steps run with the `sudo` prefix (documented requirement).
struct SSHTrustInstaller {
    let sudo: String
    let reloadCommand: String
    let timeout: Duration

    /// Uploads `machine`'s files to a private staging directory, installs them into `directory`,
    /// reloads sshd; returns the installed files.
    func install(
        _ identity: HostIdentity, machine: MachineID, directory: String, over session: SSHSession
    ) async throws(DriverError) -> [String] {
        let prefix = "\(directory)/paz-\(machine.rawValue)"
        let staging = "/tmp/paz-trust-\(machine.rawValue)"
        let files = [prefix + ".conf", prefix + "-host_key", prefix + "-host_key-cert.pub", prefix + "-user_ca.pub"]
        try await run("umask 077 && rm -rf '\(staging)' && mkdir -m 700 '\(staging)'", on: session, step: "staging")
        let config = "HostKey \(prefix)-host_key\nHostCertificate \(prefix)-host_key-cert.pub\nTrustedUserCAKeys \(prefix)-user_ca.pub\n"
        let uploads: [(name: String, text: String, mode: Int32)] = [
            ("host_key", identity.hostPrivateKey.value, 0o600),
            ("host_key-cert.pub", identity.hostCertificate + "\n", 0o644),
            ("user_ca.pub", identity.userCAPublicKey + "\n", 0o644),
            ("conf", config, 0o644),
        ]
        for upload in uploads {
            do {
                try await session.upload(Array(upload.text.utf8), to: "\(staging)/\(upload.name)", mode: upload.mode, timeout: timeout)
            } catch {
                throw .conflict("could not upload \(upload.name) to \(staging): \(error)")
            }
        }
        let installs = [
            "\(sudo) mkdir -p '\(directory)'",
            "\(sudo) install -m 600 '\(staging)/host_key' '\(prefix)-host_key'",
            "\(sudo) install -m 644 '\(staging)/host_key-cert.pub' '\(prefix)-host_key-cert.pub'",
            "\(sudo) install -m 644 '\(staging)/user_ca.pub' '\(prefix)-user_ca.pub'",
            "\(sudo) install -m 644 '\(staging)/conf' '\(prefix).conf'",
        ]
        try await run(installs.joined(separator: " && ") + "; status=$?; rm -rf '\(staging)'; exit $status", on: session, step: "install")
        try await reload(on: session)
        return files
    }

    /// Deletes `installed` and reloads sshd.
    func remove(_ installed: [String], over session: SSHSession) async throws(DriverError) {
        let quoted = installed.map { "'\($0.replacingOccurrences(of: "'", with: ""))'" }.joined(separator: " ")
        try await run("\(sudo) rm -f \(quoted)", on: session, step: "removal")
        try await reload(on: session)
    }

    private func reload(on session: SSHSession) async throws(DriverError) {
        let escaped = reloadCommand.replacingOccurrences(of: "'", with: "'\\''")
        try await run("\(sudo) sh -c '\(escaped)'", on: session, step: "sshd reload (sshd-reload-command)")
    }

    private func run(_ command: String, on session: SSHSession, step: String) async throws(DriverError) {
        let result: SSHExecResult
        do {
            result = try await session.exec(command, timeout: timeout)
        } catch {
            throw .conflict("SSH trust \(step) failed: \(error)")
        }
        guard result.exitStatus == 0 else {
            throw .conflict(
                "SSH trust \(step) exited with status \(result.exitStatus): \(result.stderrText.prefix(300)) "
                    + "(the ssh-user needs sudo, or set sudo and ssh-trust-dir, or install-ssh-trust=false)")
        }
    }
}
