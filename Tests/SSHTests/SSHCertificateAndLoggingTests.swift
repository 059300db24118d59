import Foundation
import Logging
import PazLocalServers
import PazSSH
import PazTestSupport
import Synchronization
import Testing

/// Every log line (message and metadata) written through ``RecordingLogHandler``s sharing it.
final class LogRecorder: Sendable {
    private let storage = Mutex<[String]>([])

    func append(_ line: String) { storage.withLock { $0.append(line) } }

    var text: String { storage.withLock { $0.joined(separator: "\n") } }
}

/// A log handler that keeps lines in memory, to assert what reaches the logs.
struct RecordingLogHandler: LogHandler {
    let recorder: LogRecorder
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        recorder.append("\(event.level) \(event.message) \(all)")
    }
}

@Suite("Certificates and logging")
struct SSHCertificateAndLoggingTests {
    /// libssh2 1.10 logs in with an ECDSA user certificate; with an Ed25519 certificate it fails.
    @Test("user certificates from memory: ECDSA accepted, Ed25519 not (libssh2 1.10)", arguments: ["ecdsa", "ed25519"])
    func userCertificate(type: String) async throws {
        let directory = try ScratchDirectory.make(prefix: "paz-ca")
        defer { try? FileManager.default.removeItem(at: directory) }
        let ca = directory.appendingPathComponent("ca").path
        try HelperCommand.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "paz-ca", "-f", ca])
        let key = try TestUserKey.generate(type: type)
        let publicFile = directory.appendingPathComponent("user.pub")
        try key.publicKey.write(to: publicFile, atomically: true, encoding: .utf8)
        try HelperCommand.run("ssh-keygen", ["-q", "-s", ca, "-I", "paz-test-cert", "-n", SSHServer.defaultUser,
                                             "-V", "-5m:+5m", publicFile.path])
        let certificate = try String(contentsOf: directory.appendingPathComponent("user-cert.pub"), encoding: .utf8)
        let server = try await TestSSHD.makePrivate(host: "127.0.0.3", authorizing: [],
                                                    extraConfig: ["TrustedUserCAKeys \(ca).pub"])
        let credentials = SSHCredentials(user: server.user, privateKey: try SSHPrivateKey(pem: key.privateKey),
                                         publicKey: certificate)
        let connect = {
            try await SSHSession.connect(host: server.host, port: server.port,
                                         hostKeyPolicy: try expectedHostKey(of: server), credentials: credentials)
        }
        if type == "ecdsa" {
            let session = try await connect()
            #expect(try await session.exec("echo cert").stdoutText == "cert\n")
            await session.close()
            // Without the certificate (plain key, not authorized) the same key is refused.
            let plain = SSHCredentials(user: server.user, privateKey: try SSHPrivateKey(pem: key.privateKey))
            let refused = await sshError {
                try await SSHSession.connect(host: server.host, port: server.port,
                                             hostKeyPolicy: try expectedHostKey(of: server), credentials: plain)
            }
            guard case .authenticationFailed? = refused else {
                Issue.record("expected authenticationFailed, got \(String(describing: refused))")
                await server.stop()
                return
            }
        } else {
            // Observed with libssh2 1.10 + OpenSSH 9.2: the login is rejected
            // (LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED, "Callback returned error").
            let error = await sshError { try await connect() }
            guard case .authenticationFailed? = error else {
                Issue.record("expected authenticationFailed, got \(String(describing: error))")
                await server.stop()
                return
            }
        }
        await server.stop()
    }

    @Test("log lines name host, port, user and fingerprints, never key material")
    func logsCarryNoSecrets() async throws {
        let sshd = try await TestSSHD.shared()
        let recorder = LogRecorder()
        let logger = Logger(label: "paz.ssh.test") { _ in RecordingLogHandler(recorder: recorder) }
        let hostKey = try SSHPublicKey(openSSH: sshd.server.hostPublicKeys[0])
        let session = try await SSHSession.connect(host: sshd.server.host, port: sshd.server.port,
                                                   hostKeyPolicy: .expect(hostKey),
                                                   credentials: try credentials(sshd.userKey), logger: logger)
        _ = try await session.exec("true")
        await session.close()
        // A mismatch and a wrong key log too.
        let stranger = try TestUserKey.generate()
        _ = await sshError {
            try await SSHSession.connect(host: sshd.server.host, port: sshd.server.port,
                                         hostKeyPolicy: .expect(try SSHPublicKey(openSSH: stranger.publicKey)),
                                         credentials: try credentials(sshd.userKey), logger: logger)
        }
        _ = await sshError {
            try await SSHSession.connect(host: sshd.server.host, port: sshd.server.port, hostKeyPolicy: .expect(hostKey),
                                         credentials: try credentials(stranger), logger: logger)
        }
        let logged = recorder.text
        #expect(logged.contains(sshd.server.host) && logged.contains("\(sshd.server.port)"))
        #expect(logged.contains(hostKey.fingerprint))
        #expect(logged.contains(sshd.server.user))
        for secret in [sshd.userKey.privateKey, stranger.privateKey] {
            let body = secret.split(separator: "\n").filter { !$0.hasPrefix("-----") }
            #expect(!body.isEmpty)
            for line in body { #expect(!logged.contains(line)) }
        }
        #expect(!logged.contains("PRIVATE KEY"))
        // Descriptions of credentials are redacted too.
        #expect(!"\(try credentials(sshd.userKey))".contains("PRIVATE"))
    }
}
