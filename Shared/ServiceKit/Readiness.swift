import Synchronization

/// The named readiness checks behind `/readyz`. Services register one per dependency they need
/// (`"amqp"`, `"redis"`); `/readyz` answers 200 only while every check passes.
///
/// A check must be quick and must not do I/O: return a state the component already tracks
/// (for example "the AMQP connection is open"), because `/readyz` awaits every check on each request.
///
/// ```swift
/// runtime.readiness.register("amqp") { await connection.isOpen }
/// ```
package final class ReadinessChecks: Sendable {
    /// The check that fails once graceful shutdown has begun, so traffic moves elsewhere while work drains.
    package static let shutdownCheckName = "not-shutting-down"

    private let checks = Mutex<[(name: String, check: @Sendable () async -> Bool)]>([])
    private let shuttingDown = Atomic<Bool>(false)

    /// An empty set: with no checks registered the service is ready until shutdown begins.
    package init() {}

    /// Adds a check under `name` (shown in `/readyz`'s body). Registering a name again replaces it.
    package func register(_ name: String, _ check: @escaping @Sendable () async -> Bool) {
        checks.withLock { checks in
            checks.removeAll { $0.name == name }
            checks.append((name, check))
        }
    }

    /// Makes ``shutdownCheckName`` fail from now on; ``buildServiceGroup(_:services:)`` calls it when
    /// graceful shutdown begins.
    package func beginShutdown() {
        shuttingDown.store(true, ordering: .releasing)
    }

    /// Runs every check concurrently.
    package func evaluate() async -> ReadinessReport {
        let current = checks.withLock { $0 }
        let results = await withTaskGroup(of: (String, Bool).self) { group in
            for (name, check) in current {
                group.addTask { (name, await check()) }
            }
            return await group.reduce(into: [String: Bool]()) { $0[$1.0] = $1.1 }
        }.merging([Self.shutdownCheckName: !shuttingDown.load(ordering: .acquiring)]) { $1 }
        return ReadinessReport(checks: results)
    }
}

/// The outcome of ``ReadinessChecks/evaluate()``; encodes as `/readyz`'s JSON body.
package struct ReadinessReport: Sendable, Codable, Equatable {
    /// `"ready"` or `"not ready"`.
    package var status: String
    /// Every check by name: `true` when it passed.
    package var checks: [String: Bool]
    /// Names of the failing checks, sorted.
    package var failing: [String]

    package var isReady: Bool { failing.isEmpty }

    init(checks: [String: Bool]) {
        self.checks = checks
        self.failing = checks.filter { !$0.value }.map(\.key).sorted()
        self.status = failing.isEmpty ? "ready" : "not ready"
    }
}
