package import CoreMetrics
import PazSchemas

/// The collector's metrics (swift-metrics; `/metrics` exposes them through the service kit's
/// Prometheus registry). Labels are bounded: driver names, outcomes and sources, never tenants.
///
/// | metric | labels | what |
/// |---|---|---|
/// | `paz_collector_polls_total` | `driver`, `outcome` | `machine.states` requests by outcome (`answered`, `timeout`, `unroutable`, `failure`, `invalid-reply`, `error`) |
/// | `paz_collector_poll_duration_seconds` | `driver` | time from request to reply or give-up |
/// | `paz_collector_poll_timeouts_total` | `driver` | requests the driver did not answer in time |
/// | `paz_collector_states_written_total` | `source` | states written to Redis (`poll`, `operation`) |
/// | `paz_collector_state_changes_total` | `source` | writes that changed the state (an event is published for polls) |
/// | `paz_collector_events_total` | `result` | state events consumed (`applied`, `stale`, `unknown-machine`, `dead-lettered`, `own-poll`: a poll's own change, not written again) |
package struct CollectorMetrics: Sendable {
    /// Outcomes of one poll, as the `outcome` label.
    enum PollOutcome: String {
        case answered, timeout, unroutable, failure
        case invalidReply = "invalid-reply"
        case error
    }

    /// Results of applying one consumed event, as the `result` label.
    enum EventResult: String {
        case applied, stale
        case unknownMachine = "unknown-machine"
        case deadLettered = "dead-lettered"
        /// A poll's own change event: written to Redis before it was published, so not applied again.
        case ownPoll = "own-poll"
    }

    package static let polls = "paz_collector_polls_total"
    package static let pollDuration = "paz_collector_poll_duration_seconds"
    package static let pollTimeouts = "paz_collector_poll_timeouts_total"
    package static let statesWritten = "paz_collector_states_written_total"
    package static let stateChanges = "paz_collector_state_changes_total"
    package static let events = "paz_collector_events_total"

    private let factory: any MetricsFactory

    /// Metrics made by `factory` (the process-wide one by default; tests pass a `TestMetrics`).
    package init(factory: any MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    func poll(driver: ResourceName, outcome: PollOutcome, duration: Duration) {
        Counter(label: Self.polls, dimensions: [("driver", driver.rawValue), ("outcome", outcome.rawValue)], factory: factory)
            .increment()
        let (seconds, attoseconds) = duration.components
        CoreMetrics.Timer(label: Self.pollDuration, dimensions: [("driver", driver.rawValue)], factory: factory)
            .recordNanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        if outcome == .timeout {
            Counter(label: Self.pollTimeouts, dimensions: [("driver", driver.rawValue)], factory: factory).increment()
        }
    }

    func stateWritten(source: MachineStateChanged.Source, changed: Bool) {
        Counter(label: Self.statesWritten, dimensions: [("source", source.rawValue)], factory: factory).increment()
        if changed {
            Counter(label: Self.stateChanges, dimensions: [("source", source.rawValue)], factory: factory).increment()
        }
    }

    func event(_ result: EventResult) {
        Counter(label: Self.events, dimensions: [("result", result.rawValue)], factory: factory).increment()
    }
}
