import Foundation
package import PazLocalServers

/// A user key pair made by `ssh-keygen` for tests (OpenSSH formats, unencrypted).
package struct TestUserKey: Sendable {
    /// The private key file's text (`-----BEGIN OPENSSH PRIVATE KEY-----`).
    package let privateKey: String
    /// The public key line (`ssh-ed25519 AAAA… comment`).
    package let publicKey: String

    /// Generates a key of `type` (`ed25519` or `ecdsa`, which is P-256).
    package static func generate(type: String = "ed25519") throws -> TestUserKey {
        let directory = try ScratchDirectory.make(prefix: "paz-userkey")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("id").path
        var arguments = ["-q", "-t", type, "-N", "", "-C", "paz-test-\(type)", "-f", file]
        if type == "ecdsa" { arguments += ["-b", "256"] }
        try HelperCommand.run("ssh-keygen", arguments)
        return TestUserKey(
            privateKey: try String(contentsOfFile: file, encoding: .utf8),
            publicKey: try String(contentsOfFile: file + ".pub", encoding: .utf8)
                .trimmingCharacters(in: .whitespacesAndNewlines)
        )
    }
}

/// The sshd every test may share (never stopped by a test) and the user key it accepts.
package struct SharedSSHD: Sendable {
    /// The server, on 127.0.0.2.
    package let server: SSHServer
    /// An Ed25519 key authorized for ``SSHServer/user``.
    package let userKey: TestUserKey
}

/// sshd fixtures: one shared per test run, plus private ones for tests that stop or delay them.
package enum TestSSHD {
    private static let fixture = SharedFixture<SharedSSHD> {
        let userKey = try TestUserKey.generate()
        let server = try SSHServer(host: "127.0.0.2")
        try server.authorize(publicKeys: [userKey.publicKey])
        try await start(server)
        return SharedSSHD(server: server, userKey: userKey)
    }

    /// The shared sshd, started on first use and stopped when the test process exits.
    package static func shared() async throws -> SharedSSHD {
        try await fixture.value()
    }

    /// A new private sshd on `host` (not started unless `start` is true) authorizing `publicKeys`.
    /// Start it with ``start(_:)`` so it is stopped at exit even if the test fails.
    package static func makePrivate(host: String = "127.0.0.3", authorizing publicKeys: [String],
                                    extraConfig: [String] = [], start startNow: Bool = true) async throws -> SSHServer {
        let server = try SSHServer(host: host, extraConfig: extraConfig)
        try server.authorize(publicKeys: publicKeys)
        if startNow { try await start(server) }
        return server
    }

    /// Starts `server` and registers its process to be killed when the test process exits.
    package static func start(_ server: SSHServer) async throws {
        try await server.start()
        if let process = server.runningProcess { FixtureCleanup.stopAtExit(process) }
    }
}
