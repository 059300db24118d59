import PazLocalServers
import PazTestSupport

/// Every server and key these tests use, made once and in order.
///
/// PazLocalServers' helper commands (`ssh-keygen` through Foundation's `Process`) read their output
/// pipe to EOF; a server spawned at the same moment inherits the pipe's write end and the read never
/// ends. So all key generation and sshd set-up happens here, before any test spawns a process.
struct Servers: Sendable {
    let rabbit: RabbitMQServer
    let redis: RedisServer
    let sshd: SharedSSHD
    /// A key no server authorizes.
    let strangerKey: TestUserKey
    /// An unstarted private sshd on 127.0.0.3 authorizing ``privateKey`` (for the test that stops it).
    let privateServer: SSHServer
    let privateKey: TestUserKey

    private static let fixture = SharedFixture<Servers> {
        let rabbit = try await TestRabbitMQ.sharedServer()
        let redis = try await TestRedis.shared()
        let sshd = try await TestSSHD.shared()
        let strangerKey = try TestUserKey.generate()
        let privateKey = try TestUserKey.generate()
        let privateServer = try await TestSSHD.makePrivate(authorizing: [privateKey.publicKey], start: false)
        return Servers(rabbit: rabbit, redis: redis, sshd: sshd, strangerKey: strangerKey, privateServer: privateServer,
                       privateKey: privateKey)
    }

    static func ready() async throws -> Servers { try await fixture.value() }
}
