import Foundation
import PazLocalServers
import PazSSH
import PazTestSupport
import Testing

@Suite("Upload and wait-until-ready")
struct SSHUploadAndWaitTests {
    @Test("upload writes the bytes with the given mode", arguments: [Int32(0o640), 0o755])
    func uploadAndReadBack(mode: Int32) async throws {
        let (_, session) = try await connectToShared()
        let bytes = Array((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) })
        let path = "/tmp/paz-upload-\(UUID().uuidString)"
        try await session.upload(bytes, to: path, mode: mode)
        let readBack = try await session.exec("cat '\(path)'")
        #expect(readBack.stdout == bytes)
        let stat = try await session.exec("stat -c '%a %U' '\(path)'")
        #expect(stat.stdoutText == "\(String(mode, radix: 8)) \(session.user)\n")
        _ = try await session.exec("rm -f '\(path)'")
        await session.close()
    }

    @Test("an upload the server refuses reports the remote error")
    func uploadRefused() async throws {
        let (_, session) = try await connectToShared()
        let error = await sshError { try await session.upload(Array("x".utf8), to: "/etc/paz-not-allowed") }
        guard case .uploadRefused(_, _, let path, _)? = error else {
            Issue.record("expected uploadRefused, got \(String(describing: error))")
            return
        }
        #expect(path == "/etc/paz-not-allowed")
        #expect("\(error!)".contains("refused the upload to /etc/paz-not-allowed"))
        #expect(error?.isRetriable == false)
        // The session is still usable.
        #expect(try await session.exec("echo still").stdoutText == "still\n")
        await session.close()
    }

    @Test("waitUntilReady succeeds when sshd starts a few seconds late")
    func waitForLateServer() async throws {
        let key = try TestUserKey.generate()
        let server = try await TestSSHD.makePrivate(host: "127.0.0.3", authorizing: [key.publicKey], start: false)
        let expected = try SSHPublicKey(openSSH: server.hostPublicKeys[0])
        let creds = try credentials(key)
        let started = ContinuousClock.now
        async let ready = SSHSession.waitUntilReady(host: server.host, port: server.port,
                                                    hostKeyPolicy: .expect(expected), credentials: creds,
                                                    deadline: .now + .seconds(30))
        try await Task.sleep(for: .seconds(3))
        try await TestSSHD.start(server)
        do {
            let hostKey = try await ready
            #expect(hostKey == expected)
            #expect(ContinuousClock.now - started >= .seconds(3))
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }

    @Test("waitUntilReady on a port that never opens fails at the deadline with connection refused")
    func waitForMissingServer() async throws {
        let port = try LoopbackNetwork.freePort(host: "127.0.0.4")
        let anyKey = try SSHPublicKey(openSSH: try TestUserKey.generate().publicKey)
        let userCredentials = try credentials(try TestUserKey.generate())
        let started = ContinuousClock.now
        let error = await sshError {
            try await SSHSession.waitUntilReady(host: "127.0.0.4", port: port, hostKeyPolicy: .expect(anyKey),
                                                credentials: userCredentials, deadline: .now + .seconds(12))
        }
        let waited = ContinuousClock.now - started
        guard case .notReady(let host, let errorPort, let attempts, _, let lastError)? = error else {
            Issue.record("expected notReady, got \(String(describing: error))")
            return
        }
        #expect(host == "127.0.0.4" && errorPort == port)
        #expect(attempts >= 2)
        guard case .connectionRefused = lastError else {
            Issue.record("expected the last error to be connectionRefused, got \(lastError)")
            return
        }
        #expect(waited >= .seconds(11) && waited < .seconds(25))
        #expect("\(error!)".contains("last error: connection refused"))
    }

    @Test("waitUntilReady with a key the server does not accept reports the authentication failure")
    func waitWithWrongKey() async throws {
        // A server of its own: the shared one is busy with every other suite's sessions.
        let authorized = try TestUserKey.generate()
        let server = try await TestSSHD.makePrivate(host: "127.0.0.3", authorizing: [authorized.publicKey])
        defer { Task { await server.stop() } }
        let error = await sshError {
            try await SSHSession.waitUntilReady(host: server.host, port: server.port,
                                                hostKeyPolicy: try expectedHostKey(of: server),
                                                credentials: try credentials(try TestUserKey.generate()),
                                                deadline: .now + .seconds(30), connectTimeout: .seconds(10))
            // A loaded machine (the whole suite starts its servers at once) must answer at least once.
        }
        guard case .notReady(_, _, _, _, .authenticationFailed)? = error else {
            Issue.record("expected notReady(authenticationFailed), got \(String(describing: error))")
            return
        }
    }
}
