package import PazLocalServers

/// moto servers for EC2 tests.
///
/// ``shared()`` is one moto per test run, signature checking on (``MotoServer/Options`` defaults).
/// Tests run in parallel against it, so each works under its own names and tags (a random cluster id)
/// and never resets it. A test that needs other environment (`MOTO_ENABLE_AMI_VALIDATION` …), a reset
/// or a restart takes a ``privateServer(options:)``.
package enum TestMoto {
    private static let fixture = SharedFixture<MotoServer> {
        try await privateServer()
    }

    /// The server shared by every test of this run, started on first use and stopped at exit.
    package static func shared() async throws -> MotoServer {
        try await fixture.value()
    }

    /// A server of the caller's own, stopped when the test process exits if the test does not stop it.
    package static func privateServer(options: MotoServer.Options = .init()) async throws -> MotoServer {
        let server = try await MotoServer.start(options: options)
        if let process = server.process { FixtureCleanup.stopAtExit(process) }
        FixtureCleanup.removeAtExit(server.directory)
        return server
    }
}
