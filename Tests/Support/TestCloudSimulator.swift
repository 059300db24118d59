package import PazLocalServers

/// The DigitalOcean + Hetzner simulator for cloud driver tests.
///
/// ``shared()`` is one simulator per test run (``CloudSimulator/Options`` defaults). Tests run in parallel
/// against it, each in accounts of its own (``CloudSimulator/makeAccount(provider:serverLimit:)``), and
/// check their own accounts' violations.
package enum TestCloudSimulator {
    private static let fixture = SharedFixture<CloudSimulator> {
        try await privateSimulator()
    }

    /// The simulator shared by every test of this run, started on first use and stopped at exit.
    package static func shared() async throws -> CloudSimulator {
        try await fixture.value()
    }

    /// A simulator of the caller's own, stopped when the test process exits if the test does not stop it.
    package static func privateSimulator(options: CloudSimulator.Options = .init()) async throws -> CloudSimulator {
        let simulator = try await CloudSimulator.start(options: options)
        if let process = simulator.process { FixtureCleanup.stopAtExit(process) }
        FixtureCleanup.removeAtExit(simulator.directory)
        return simulator
    }
}
