import Foundation
import PazLocalServers
import Synchronization
import Testing

/// A steady stream of cluster creates through the CLI while a test injects faults or rolls out a
/// driver: `clusters` creates of 2 generic machines each (the hosts taken two by two), one after
/// the other with `pause` between them; each sent by `paz-machine`, which retries a refused
/// connection or a 502/503 with the same Idempotency-Key.
final class CreateStream: Sendable {
    private let accepted = Mutex<[(cluster: String, operation: String)]>([])
    private let refused = Mutex<[String]>([])
    private let task: Mutex<Task<Void, any Error>?> = Mutex(nil)

    /// Starts sending; cluster names are `<prefix>-<n>`.
    init(cli: CLIProcess, hosts: [SSHServer], key: URL, trust: URL, prefix: String, clusters: Int, pause: Duration) {
        let task = Task { [self] in
            for index in 0..<clusters {
                let cluster = "\(prefix)-\(index)"
                let pair = Array(hosts[(2 * index)..<(2 * index + 2)])
                let result = try await cli.run(EndToEnd.ChaosEndToEndTests.createArguments(cluster, hosts: pair, key: key, trust: trust))
                if result.status == 0, let operation = try? result.object()["id"] as? String {
                    self.accepted.withLock { $0.append((cluster, operation)) }
                } else {
                    self.refused.withLock { $0.append("\(cluster): \(result.err)") }
                }
                try await Task.sleep(for: pause)
            }
        }
        self.task.withLock { $0 = task }
    }

    /// Returns once `count` creates were answered (accepted or not), or after `timeout`.
    func waitUntilAnswered(_ count: Int, timeout: Duration = .seconds(60)) async throws {
        let deadline = ContinuousClock.now + timeout
        while accepted.withLock({ $0.count }) + refused.withLock({ $0.count }) < count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Waits for the last create to be answered; then every one must have been accepted, and every
    /// accepted operation must end `succeeded` with its 2 machines (`context` names the phase).
    /// Returns the clusters.
    func expectAllSucceeded(_ cli: CLIProcess, context: String) async throws -> [String] {
        try await task.withLock { $0 }?.value
        let refusals = refused.withLock { $0 }
        #expect(refusals.isEmpty, "\(context): creates refused: \(refusals)")
        var clusters: [String] = []
        for (cluster, operation) in accepted.withLock({ $0 }) {
            let waiting = Task { try await cli.run(["ops", "wait", operation, "--output", "json"]) }
            let timeout = Task { try await Task.sleep(for: .seconds(240)); waiting.cancel() }
            let waited = try await waiting.value
            timeout.cancel()
            let state = (try? waited.object()["state"] as? String) ?? "(no answer: \(waited.err))"
            #expect(state == "succeeded", "\(context): \(cluster) ended \(state): \(waited.out.prefix(2_000))")
            let inspect = try await cli.run(["cluster", "inspect", cluster, "--output", "json"])
            let machines = (try? inspect.object()["machines"] as? [[String: Any]]) ?? []
            #expect(machines.count == 2, "\(context): \(cluster) has \(machines.count) machines: \(inspect.err)")
            clusters.append(cluster)
        }
        return clusters
    }
}
