import Foundation
import PazLocalServers
import PazSSH
import PazTestSupport
import Testing

/// Credentials for the shared sshd's user with `key`.
func credentials(_ key: TestUserKey, user: String = SSHServer.defaultUser) throws -> SSHCredentials {
    SSHCredentials(user: user, privateKey: try SSHPrivateKey(pem: key.privateKey))
}

/// The policy that expects `server`'s Ed25519 host key.
func expectedHostKey(of server: SSHServer) throws -> SSHHostKeyPolicy {
    .expect(try SSHPublicKey(openSSH: server.hostPublicKeys[0]))
}

/// Connects to the shared sshd with its authorized key.
func connectToShared() async throws -> (SharedSSHD, SSHSession) {
    let sshd = try await TestSSHD.shared()
    let session = try await SSHSession.connect(
        host: sshd.server.host, port: sshd.server.port,
        hostKeyPolicy: try expectedHostKey(of: sshd.server), credentials: try credentials(sshd.userKey))
    return (sshd, session)
}

/// Runs `body` and returns the SSHError it threw (nil, and a recorded issue, if it did not throw one).
func sshError<T>(_ body: () async throws -> T) async -> SSHError? {
    do {
        _ = try await body()
        Issue.record("expected an SSHError")
        return nil
    } catch let error as SSHError {
        return error
    } catch {
        Issue.record("expected an SSHError, got \(error)")
        return nil
    }
}

@Suite("SSH session against a real loopback sshd")
struct SSHSessionTests {
    @Test("exec returns stdout, stderr, exit status and exit signal")
    func execCapturesEverything() async throws {
        let (sshd, session) = try await connectToShared()
        let result = try await session.exec("echo out; echo err >&2; whoami; exit 3")
        #expect(result.stdoutText == "out\n\(sshd.server.user)\n")
        #expect(result.stderrText == "err\n")
        #expect(result.exitStatus == 3)
        #expect(result.exitSignal == nil)

        let killed = try await session.exec("kill -KILL $$")
        #expect(killed.exitSignal == "KILL")

        let ok = try await session.exec("true")
        #expect(ok.exitStatus == 0)
        await session.close()
    }

    @Test("stdin is piped to the command and closed")
    func execPipesStdin() async throws {
        let (_, session) = try await connectToShared()
        let input = Array((0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        let echoed = try await session.exec("cat", stdin: input)
        #expect(echoed.stdout == input)
        #expect(echoed.exitStatus == 0)
        let counted = try await session.exec("wc -c", stdin: Array("hello".utf8))
        #expect(counted.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines) == "5")
        await session.close()
    }

    @Test("more than 1 MB on stdout and stderr at the same time completes")
    func largeOutputOnBothStreams() async throws {
        let (_, session) = try await connectToShared()
        let result = try await session.exec(
            "head -c 2500000 /dev/urandom >&2 & head -c 3000000 /dev/urandom; wait", timeout: .seconds(60), outputLimit: 4_000_000)
        #expect(result.stdout.count == 3_000_000)
        #expect(result.stderr.count == 2_500_000)
        #expect(!result.stdoutTruncated && !result.stderrTruncated)
        #expect(result.exitStatus == 0)
        await session.close()
    }

    @Test("output beyond the limit is dropped, the command still finishes and the result says it was truncated")
    func outputIsCapped() async throws {
        let (_, session) = try await connectToShared()
        // 5 MB on stdout and 3 MB on stderr against the default limit of 1 MiB per stream.
        let result = try await session.exec(
            "head -c 3000000 /dev/zero | tr '\\0' e >&2 & head -c 5000000 /dev/zero | tr '\\0' o; wait; exit 7",
            timeout: .seconds(60))
        #expect(result.stdout.count == SSHExecResult.defaultOutputLimit)
        #expect(result.stderr.count == SSHExecResult.defaultOutputLimit)
        #expect(result.stdout.allSatisfy { $0 == UInt8(ascii: "o") })
        #expect(result.stderr.allSatisfy { $0 == UInt8(ascii: "e") })
        #expect(result.stdoutTruncated && result.stderrTruncated)
        #expect(result.exitStatus == 7)

        let small = try await session.exec("printf 0123456789; printf ab >&2", outputLimit: 4)
        #expect(small.stdoutText == "0123")
        #expect(small.stderrText == "ab")
        #expect(small.stdoutTruncated && !small.stderrTruncated)
        let exact = try await session.exec("printf 0123", outputLimit: 4)
        #expect(exact.stdoutText == "0123" && !exact.stdoutTruncated)
        await session.close()
    }

    @Test("a wrong user key is refused with an authentication error")
    func wrongUserKeyRefused() async throws {
        let sshd = try await TestSSHD.shared()
        let stranger = try TestUserKey.generate()
        let error = await sshError {
            try await SSHSession.connect(host: sshd.server.host, port: sshd.server.port,
                                         hostKeyPolicy: try expectedHostKey(of: sshd.server),
                                         credentials: try credentials(stranger))
        }
        guard case .authenticationFailed(let user, _, _, _, _)? = error else {
            Issue.record("expected authenticationFailed, got \(String(describing: error))")
            return
        }
        #expect(user == sshd.server.user)
        #expect("\(error!)".contains("authentication failed for user paz-test"))
        #expect(!"\(error!)".contains(stranger.privateKey))
    }

    @Test("the presented host key is reported with acceptAnyAndReport")
    func trustOnFirstUseReportsTheKey() async throws {
        let sshd = try await TestSSHD.shared()
        let session = try await SSHSession.connect(host: sshd.server.host, port: sshd.server.port,
                                                   hostKeyPolicy: .acceptAnyAndReport,
                                                   credentials: try credentials(sshd.userKey))
        let known = try sshd.server.hostPublicKeys.map { try SSHPublicKey(openSSH: $0) }
        #expect(known.contains(session.hostKey))
        await session.close()
    }

    @Test("several sessions work in parallel")
    func parallelSessions() async throws {
        let outputs = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<8 {
                group.addTask {
                    let (_, session) = try await connectToShared()
                    var last = ""
                    for round in 0..<3 {
                        last = try await session.exec("sleep 0.1; echo \(index)-\(round)").stdoutText
                    }
                    await session.close()
                    return last
                }
            }
            return try await group.reduce(into: Set<String>()) { $0.insert($1) }
        }
        #expect(outputs == Set((0..<8).map { "\($0)-2\n" }))
    }

    @Test("a closed session refuses further work")
    func closedSessionRefuses() async throws {
        let (_, session) = try await connectToShared()
        await session.close()
        let error = await sshError { try await session.exec("true") }
        guard case .sessionClosed? = error else {
            Issue.record("expected sessionClosed, got \(String(describing: error))")
            return
        }
    }

    @Test("an exec that overruns its timeout fails with a timeout error")
    func execTimeout() async throws {
        let (_, session) = try await connectToShared()
        let started = ContinuousClock.now
        let error = await sshError { try await session.exec("sleep 30", timeout: .milliseconds(500)) }
        guard case .timedOut(let operation, _, _, _)? = error else {
            Issue.record("expected timedOut, got \(String(describing: error))")
            return
        }
        #expect(operation == "exec")
        // Well before the 30 s the command runs (a loaded CI machine once took 5.45 s here).
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect("\(error!)".contains("timed out after 500 ms"))
    }
}

@Suite("Connect timeouts")
struct SSHConnectTimeoutTests {
    /// A TCP listener on 127.0.0.4 that never accepts: the kernel completes TCP, but no SSH banner comes.
    final class SilentListener {
        let fd: Int32
        let port: Int

        init() throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            self.fd = fd
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = 0
            inet_pton(AF_INET, "127.0.0.4", &address.sin_addr)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            guard bound == 0, listen(fd, 8) == 0 else {
                close(fd)
                throw LocalServerError.filesystem("could not listen on 127.0.0.4")
            }
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
            }
            port = Int(UInt16(bigEndian: address.sin_port))
        }

        deinit { close(fd) }
    }

    @Test("a server that never answers the handshake times out at the connect timeout")
    func handshakeTimeout() async throws {
        let listener = try SilentListener()
        let key = try TestUserKey.generate()
        let started = ContinuousClock.now
        let error = await sshError {
            try await SSHSession.connect(host: "127.0.0.4", port: listener.port,
                                         hostKeyPolicy: .expect(try SSHPublicKey(openSSH: key.publicKey)),
                                         credentials: try credentials(key),
                                         timeouts: .init(connect: .seconds(1)))
        }
        let waited = ContinuousClock.now - started
        guard case .timedOut(let operation, _, let port, let after)? = error else {
            Issue.record("expected timedOut, got \(String(describing: error))")
            return
        }
        #expect(operation == "connect" && port == listener.port && after == .seconds(1))
        // The upper bound only says it did not hang: a loaded machine schedules the thread late.
        #expect(waited >= .seconds(1) && waited < .seconds(10))
        #expect(error?.isRetriable == true)
        #expect("\(error!)" == "connect with 127.0.0.4:\(listener.port) timed out after 1.0 s")
    }
}
