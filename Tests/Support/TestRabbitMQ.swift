package import Foundation
package import PazLocalServers

/// RabbitMQ for tests: one node shared by the whole run, or private nodes for tests that kill or
/// restart the broker. Every process is registered with ``FixtureCleanup``.
package enum TestRabbitMQ {
    private static let shared = SharedFixture<RabbitMQServer> { try await startPrivate() }

    /// The node shared by every test in this run (started on first use, never restarted).
    package static func sharedServer() async throws -> RabbitMQServer {
        try await shared.value()
    }

    /// A node of the caller's own, which it may kill and restart; the caller stops it when done.
    /// With `dataDirectory` the caller owns (and removes) the directory.
    package static func startPrivate(dataDirectory: URL? = nil) async throws -> RabbitMQServer {
        let server = try await RabbitMQServer.start(dataDirectory: dataDirectory)
        register(server)
        return server
    }

    /// Restarts a private node on the same port and data, keeping its processes registered for cleanup.
    package static func restart(_ server: RabbitMQServer) async throws {
        try await server.restart()
        register(server)
    }

    private static func register(_ server: RabbitMQServer) {
        for process in server.processes { FixtureCleanup.stopAtExit(process) }
    }
}
