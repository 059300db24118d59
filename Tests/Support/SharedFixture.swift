package import Foundation
package import PazLocalServers

/// A server started at most once per test run and shared by every test that asks for it.
///
/// The first caller starts it; later callers get the same instance (or the same start-up error).
/// Processes it launched are stopped when the test process exits.
package actor SharedFixture<Value: Sendable> {
    private let start: @Sendable () async throws -> Value
    private var task: Task<Value, any Error>?

    /// `start` launches the server; it runs at most once.
    package init(start: @escaping @Sendable () async throws -> Value) {
        self.start = start
    }

    /// The shared instance, started on first use.
    package func value() async throws -> Value {
        if let task { return try await task.value }
        let task = Task { try await start() }
        self.task = task
        return try await task.value
    }
}

/// Stops every process a fixture registered when the test process exits, so no server outlives
/// the run (and a crash of the runner still leaves only temp dirs behind).
package enum FixtureCleanup {
    private static let registry = Registry()

    /// Registers `process` to be killed at exit.
    package static func stopAtExit(_ process: ManagedProcess) {
        registry.add(process.pid)
    }

    /// Registers a scratch directory to be removed at exit (after the processes are gone).
    package static func removeAtExit(_ directory: URL) {
        registry.add(directory)
    }

    /// `@unchecked Sendable`: the pid list is guarded by `lock`.
    private final class Registry: @unchecked Sendable {
        private let lock = NSLock()
        private var pids: [Int32] = []
        private var directories: [URL] = []
        private var installed = false

        func add(_ pid: Int32) {
            register { $0.pids.append(pid) }
        }

        func add(_ directory: URL) {
            register { $0.directories.append(directory) }
        }

        private func register(_ change: (Registry) -> Void) {
            lock.lock()
            defer { lock.unlock() }
            change(self)
            if !installed {
                installed = true
                atexit { FixtureCleanup.registry.cleanUp() }
            }
        }

        /// Processes are started in their own process groups: signal the whole group.
        func cleanUp() {
            lock.lock()
            let (pids, directories) = (self.pids, self.directories)
            lock.unlock()
            for pid in pids { kill(-pid, SIGTERM) }
            usleep(300_000)
            for pid in pids { kill(-pid, SIGKILL) }
            for directory in directories { try? FileManager.default.removeItem(at: directory) }
        }
    }
}
