package import Foundation
import Synchronization

/// An OpenSSH `sshd` on a loopback address (127.0.0.x) with its own host keys, config and
/// authorized keys, logging in one unprivileged user. Tests and the local stack use several of them
/// as "existing machines".
///
/// Created stopped: call ``start()`` (again after ``stop()`` if you like — a port that opens late).
/// Runs as root (sshd needs it to switch to the user); listens only on the given loopback address.
package final class SSHServer: Sendable {
    /// The loopback address sshd listens on.
    package let host: String
    /// The TCP port.
    package let port: Int
    /// The account clients log in as (created if missing).
    package let user: String
    /// Config, host keys, authorized keys, pid file and log.
    package let directory: URL
    /// The server's host public keys as OpenSSH lines (`ssh-ed25519 AAAA…`, `ecdsa-sha2-nistp256 AAAA…`).
    package let hostPublicKeys: [String]
    private let configFile: URL
    private let process = Mutex<ManagedProcess?>(nil)

    /// A host identity issued by a CA, and the user CA to trust (what a driver installs on a machine).
    package struct CertifiedIdentity: Sendable {
        /// The host's OpenSSH private key file text.
        package var hostPrivateKey: String
        /// The host certificate line for that key.
        package var hostCertificate: String
        /// The user CA's public key line (`TrustedUserCAKeys`).
        package var userCAPublicKey: String

        package init(hostPrivateKey: String, hostCertificate: String, userCAPublicKey: String) {
            self.hostPrivateKey = hostPrivateKey
            self.hostCertificate = hostCertificate
            self.userCAPublicKey = userCAPublicKey
        }
    }

    /// The default unprivileged login account.
    package static let defaultUser = "paz-test"

    /// Prepares (does not start) an sshd on `host:port` (`port` nil = a free port now).
    /// `extraConfig` lines are appended to the generated sshd_config (e.g. `TrustedUserCAKeys …`);
    /// With `certified`, sshd presents only that host key and certificate (no keys of its own) and
    /// accepts user certificates of its user CA.
    package init(host: String = "127.0.0.2", port: Int? = nil, user: String = SSHServer.defaultUser,
                 certified: CertifiedIdentity? = nil, extraConfig: [String] = []) throws(LocalServerError) {
        guard host.hasPrefix("127.") else { throw .filesystem("\(host) is not a loopback address") }
        self.host = host
        if let port {
            self.port = port
        } else {
            self.port = try LoopbackNetwork.freePort(host: host)
        }
        self.user = user
        try Self.ensureUser(user)
        directory = try ScratchDirectory.make(prefix: "paz-sshd")
        let keys = directory.appendingPathComponent("authorized_keys")
        do {
            // sshd reads authorized keys as the user, so the directory must be world-readable.
            try FileManager.default.createDirectory(at: keys, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        } catch {
            throw .filesystem("could not prepare \(keys.path): \(error)")
        }
        var hostKeyFiles: [String] = []
        var publicKeys: [String] = []
        var certifiedConfig: [String] = []
        if let certified {
            let key = directory.appendingPathComponent("certified_host_key")
            try Self.write(certified.hostPrivateKey, to: key, mode: 0o600)
            try Self.write(certified.hostCertificate, to: directory.appendingPathComponent("certified_host_key-cert.pub"), mode: 0o644)
            try Self.write(certified.userCAPublicKey, to: directory.appendingPathComponent("user_ca.pub"), mode: 0o644)
            certifiedConfig = [
                "HostKey \(key.path)", "HostCertificate \(key.path)-cert.pub",
                "TrustedUserCAKeys \(directory.appendingPathComponent("user_ca.pub").path)",
            ]
        }
        for type in certified == nil ? ["ed25519", "ecdsa"] : [] {
            let file = directory.appendingPathComponent("ssh_host_\(type)_key").path
            try HelperCommand.run("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "paz-sshd", "-f", file])
            hostKeyFiles.append(file)
            publicKeys.append(try Self.readLine(file + ".pub"))
        }
        hostPublicKeys = publicKeys
        configFile = directory.appendingPathComponent("sshd_config")
        let config = [
            "ListenAddress \(host):\(self.port)",
        ] + hostKeyFiles.map { "HostKey \($0)" } + [
            "PidFile \(directory.path)/sshd.pid",
            "AuthorizedKeysFile \(keys.path)/%u",
            "StrictModes no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "PermitRootLogin no",
            "AllowUsers \(user)",
            "UseDNS no",
            "MaxStartups 100:30:200",
            "MaxSessions 100",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
        ] + certifiedConfig + extraConfig
        do {
            try (config.joined(separator: "\n") + "\n").write(to: configFile, atomically: true, encoding: .utf8)
        } catch {
            throw .filesystem("could not write \(configFile.path): \(error)")
        }
    }

    deinit {
        // Keys and logs go with the server, unless sshd still runs (then the OS temp cleaner has them).
        if runningProcess?.isRunning != true {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// The address as `host:port`.
    package var address: String { "\(host):\(port)" }

    /// The running sshd process, if started.
    package var runningProcess: ManagedProcess? { process.withLock { $0 } }

    /// Replaces the keys allowed to log in as ``user`` (OpenSSH public key lines).
    package func authorize(publicKeys: [String]) throws(LocalServerError) {
        let file = directory.appendingPathComponent("authorized_keys/\(user)")
        do {
            try (publicKeys.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        } catch {
            throw .filesystem("could not write \(file.path): \(error)")
        }
    }

    /// Starts sshd and waits until it accepts connections. Does nothing if it is running.
    package func start(timeout: Duration = .seconds(10)) async throws(LocalServerError) {
        if let running = runningProcess, running.isRunning { return }
        do {
            // Privilege separation directory sshd insists on.
            try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o755])
        } catch {
            throw .filesystem("could not create /run/sshd: \(error)")
        }
        guard let sshd = ManagedProcess.locate("sshd") else { throw .missingExecutable("sshd") }
        // -D: foreground, as our direct child (ManagedProcess spawns it with a clean signal mask in a
        // process group of its own); -e: log to stderr, i.e. the log file.
        let started = try ManagedProcess(
            executable: sshd, arguments: ["-D", "-e", "-f", configFile.path],
            logFile: directory.appendingPathComponent("sshd.log")
        )
        process.withLock { $0 = started }
        try await LoopbackNetwork.waitUntilListening(host: host, port: port, timeout: timeout,
                                                     whileRunning: started, server: "sshd")
    }

    /// Stops sshd (SIGTERM, then SIGKILL). Sessions it served are cut. It can be started again.
    package func stop() async {
        let running = process.withLock { current in
            defer { current = nil }
            return current
        }
        guard let running else { return }
        await running.stop()
    }

    /// Creates the unprivileged login account if missing. Safe when several fixtures race.
    private static func ensureUser(_ user: String) throws(LocalServerError) {
        try userCreation.withLock { _ throws(LocalServerError) in
            if getpwnam(user) != nil { return }
            // `-p '*'`: no usable password but not locked (sshd refuses locked accounts without PAM).
            let status = try HelperCommand.status("useradd", ["-m", "-s", "/bin/bash", "-p", "*", user])
            // 9: another process created it meanwhile.
            guard status == 0 || status == 9 || getpwnam(user) != nil else {
                throw .commandFailed("useradd \(user)", status: status, output: "could not create the login user")
            }
        }
    }

    private static let userCreation = Mutex(())

    /// Creates `file` with `mode` from the start (a key is never readable by others, not even briefly).
    private static func write(_ text: String, to file: URL, mode: mode_t) throws(LocalServerError) {
        let bytes = Array((text.hasSuffix("\n") ? text : text + "\n").utf8)
        let fd = open(file.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw .filesystem("could not create \(file.path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        guard Foundation.write(fd, bytes, bytes.count) == bytes.count else {
            throw .filesystem("could not write \(file.path): \(String(cString: strerror(errno)))")
        }
    }

    private static func readLine(_ path: String) throws(LocalServerError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw .filesystem("could not read \(path): \(error)")
        }
    }
}
