import Foundation
package import PazLocalServers

/// Redis servers for tests.
///
/// ``shared()`` is one `redis-server` per test run (AOF off: nothing needs to survive it). Tests run in
/// parallel, so each test that uses it works under its own key prefix (see ``keyPrefix(_:)``).
/// A test that stops, kills or restarts Redis takes a ``privateServer(appendOnly:)`` instead.
package enum TestRedis {
    private static let fixture = SharedFixture<RedisServer> {
        let server = try await RedisServer.start(options: .init(appendOnly: false))
        register(server)
        return server
    }

    /// The server shared by every test of this run, started on first use and stopped at exit.
    package static func shared() async throws -> RedisServer {
        try await fixture.value()
    }

    /// A server of the caller's own (its own port and data directory), stopped at exit if the test
    /// does not stop it. After ``RedisServer/restart()``, call ``register(_:)`` again.
    package static func privateServer(appendOnly: Bool = true) async throws -> RedisServer {
        let server = try await RedisServer.start(options: .init(appendOnly: appendOnly))
        register(server)
        return server
    }

    /// Makes sure the server's current process is stopped when the test process exits.
    package static func register(_ server: RedisServer) {
        if let process = server.process { FixtureCleanup.stopAtExit(process) }
        FixtureCleanup.removeAtExit(server.dataDirectory)
    }

    /// A key prefix no other test uses: `test:<name>:<random>:`.
    package static func keyPrefix(_ name: String) -> String {
        "test:\(name):\(UUID().uuidString.prefix(8)):"
    }
}
