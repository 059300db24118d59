import Foundation
import PazLocalServers
import PazSSH
import PazTestSupport
import Testing

@Suite("Host keys")
struct SSHHostKeyTests {
    @Test("fingerprints match ssh-keygen -l", arguments: ["ed25519", "ecdsa"])
    func fingerprintMatchesSSHKeygen(type: String) throws {
        let key = try TestUserKey.generate(type: type)
        let parsed = try SSHPublicKey(openSSH: key.publicKey)
        let directory = try ScratchDirectory.make(prefix: "paz-fp")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("key.pub")
        try key.publicKey.write(to: file, atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        process.arguments = ["-l", "-E", "sha256", "-f", file.path]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        // "256 SHA256:… comment (ED25519)"
        let fields = output.split(separator: " ")
        #expect(fields.count > 1 && String(fields[1]) == parsed.fingerprint)
        #expect(parsed.algorithm == (type == "ed25519" ? "ssh-ed25519" : "ecdsa-sha2-nistp256"))
    }

    @Test("malformed key lines are rejected")
    func malformedKeys() {
        #expect(throws: SSHError.self) { try SSHPublicKey(openSSH: "ssh-ed25519") }
        #expect(throws: SSHError.self) { try SSHPublicKey(openSSH: "ssh-ed25519 !!!notbase64") }
        // The blob says ssh-ed25519; the line claims something else.
        let line = try? TestUserKey.generate().publicKey
        let forged = line.map { "ecdsa-sha2-nistp256 " + $0.split(separator: " ")[1] } ?? ""
        #expect(throws: SSHError.self) { try SSHPublicKey(openSSH: forged) }
        #expect(throws: SSHError.self) { try SSHPrivateKey(pem: "not a key") }
        #expect(throws: SSHError.self) { try SSHHostKeyPolicy.expect(anyOf: []) }
    }

    @Test("a wrong host key is refused before authentication, and not retried")
    func wrongHostKeyRefused() async throws {
        let userKey = try TestUserKey.generate()
        let server = try await TestSSHD.makePrivate(host: "127.0.0.4", authorizing: [userKey.publicKey])
        let impostor = try SSHPublicKey(openSSH: try TestUserKey.generate().publicKey)
        let actual = try SSHPublicKey(openSSH: server.hostPublicKeys[0])
        let error = await sshError {
            try await SSHSession.connect(host: server.host, port: server.port, hostKeyPolicy: .expect(impostor),
                                         credentials: try credentials(userKey))
        }
        guard case .hostKeyMismatch(let host, let port, let expected, let presented)? = error else {
            Issue.record("expected hostKeyMismatch, got \(String(describing: error))")
            return
        }
        #expect(host == server.host && port == server.port)
        #expect(expected == [impostor.fingerprint])
        #expect(presented == actual.fingerprint)
        #expect("\(error!)".hasPrefix(
            "host key mismatch for \(server.address): expected \(impostor.fingerprint), got \(actual.fingerprint)"))
        #expect(error?.isRetriable == false)

        // waitUntilReady stops at once on a mismatch instead of retrying until the deadline.
        let started = ContinuousClock.now
        let waitError = await sshError {
            try await SSHSession.waitUntilReady(host: server.host, port: server.port, hostKeyPolicy: .expect(impostor),
                                                credentials: try credentials(userKey), deadline: .now + .seconds(20))
        }
        guard case .hostKeyMismatch? = waitError else {
            Issue.record("expected hostKeyMismatch from waitUntilReady, got \(String(describing: waitError))")
            return
        }
        #expect(ContinuousClock.now - started < .seconds(15))  // not the 20 s deadline

        // The connection was not used: sshd never saw a login attempt.
        await server.stop()
        let log = try String(contentsOf: server.directory.appendingPathComponent("sshd.log"), encoding: .utf8)
        #expect(!log.contains("publickey"))
        #expect(!log.contains("Accepted"))
    }

    @Test("user keys from memory: which types libssh2 1.10 accepts", arguments: ["ed25519", "ecdsa"])
    func userKeyTypes(type: String) async throws {
        let key = try TestUserKey.generate(type: type)
        let server = try await TestSSHD.makePrivate(host: "127.0.0.3", authorizing: [key.publicKey])
        // Expect the server's key of the same family: the method preference must make it present it.
        let hostKey = try SSHPublicKey(openSSH: server.hostPublicKeys[type == "ed25519" ? 0 : 1])
        do {
            let session = try await SSHSession.connect(host: server.host, port: server.port,
                                                       hostKeyPolicy: .expect(hostKey), credentials: try credentials(key))
            #expect(session.hostKey == hostKey)
            #expect(try await session.exec("echo ok").stdoutText == "ok\n")
            await session.close()
            // Offering the public key line explicitly works too.
            let explicit = SSHCredentials(user: server.user, privateKey: try SSHPrivateKey(pem: key.privateKey),
                                          publicKey: key.publicKey)
            let second = try await SSHSession.connect(host: server.host, port: server.port,
                                                      hostKeyPolicy: .expect(hostKey), credentials: explicit)
            #expect(try await second.exec("echo ok").exitStatus == 0)
            await second.close()
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}
