package import Foundation
import Synchronization

/// The one process a local server runs at a time (none before start and after stop): launched and
/// waited for here, taken out to stop or kill it.
package final class ProcessSlot: Sendable {
    private let process = Mutex<ManagedProcess?>(nil)

    package init() {}

    /// The running process, if any.
    package var current: ManagedProcess? { process.withLock { $0 } }

    /// Starts `executable` and waits until `isReady` holds; kills it and throws
    /// ``LocalServerError/notReady(server:address:logTail:)`` when it exits or `timeout` passes first.
    package func launch(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:], logFile: URL,
        server: String, address: String, timeout: Duration, isReady: () async -> Bool
    ) async throws(LocalServerError) {
        let started = try ManagedProcess(executable: executable, arguments: arguments, environment: environment, logFile: logFile)
        process.withLock { $0 = started }
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline && started.isRunning {
            if await isReady() { return }
            try? await Task.sleep(for: .milliseconds(50))
        }
        await started.kill()
        process.withLock { $0 = nil }
        throw .notReady(server: server, address: address, logTail: started.logTail())
    }

    /// Takes the process out (the slot is empty afterwards), to stop or kill it.
    package func take() -> ManagedProcess? {
        process.withLock { current in
            defer { current = nil }
            return current
        }
    }
}
