package import Logging
package import PazConcurrency
import Synchronization

/// A service the gateway's requests depend on.
package enum Dependency: String, Sendable {
    case redis
    case rabbitmq

    /// How answers and logs name it.
    var displayName: String {
        switch self {
        case .redis: "the status store (Redis)"
        case .rabbitmq: "the message broker (RabbitMQ)"
        }
    }
}

/// The gateway's circuit breaker for one dependency, shared by every request (docs/control-plane.md,
/// "Failing fast").
///
/// A request asks ``admit()`` before it uses the dependency: while the breaker is open that throws a
/// 503 `dependency-unavailable` problem with `Retry-After` at once, without touching the dependency.
/// Afterwards it reports ``succeeded()`` or ``failed(reason:)``, or ``release(_:)`` when the outcome
/// says nothing about the dependency. The decisions are ``CircuitBreaker``'s; this adds the lock,
/// the clock and the log lines for each change of state.
package final class DependencyBreaker: Sendable {
    /// What ``admit()`` let through: a normal request, or the one probe of a half-open breaker.
    package enum Ticket: Sendable {
        case regular
        case probe
    }

    package let dependency: Dependency
    private let breaker: Mutex<CircuitBreaker>
    private let clock: @Sendable () -> ContinuousClock.Instant
    private let logger: Logger

    /// A closed breaker following `policy`; `clock` is for tests.
    package init(
        _ dependency: Dependency, policy: CircuitBreaker.Policy, logger: Logger,
        clock: @escaping @Sendable () -> ContinuousClock.Instant = { .now }
    ) {
        self.dependency = dependency
        self.breaker = Mutex(CircuitBreaker(policy: policy))
        self.clock = clock
        self.logger = logger
    }

    /// Lets a request through, or throws the 503 problem while the breaker is open (or a probe is out).
    package func admit() throws(GatewayProblem) -> Ticket {
        let now = clock()
        let decision = breaker.withLock { $0.decide(at: now) }
        switch decision {
        case .allow:
            return .regular
        case .probe:
            logger.info("circuit half-open: one request probes the dependency", metadata: ["dependency": "\(dependency)"])
            return .probe
        case .reject(let retryAfter):
            throw unavailable(retryAfter: retryAfter)
        }
    }

    /// The dependency answered: closes the breaker.
    package func succeeded() {
        let wasClosed = breaker.withLock { breaker in
            defer { breaker.recordSuccess() }
            if case .closed = breaker.state { return true }
            return false
        }
        if !wasClosed { logger.info("circuit closed: the dependency answers again", metadata: ["dependency": "\(dependency)"]) }
    }

    /// The dependency failed (unreachable, timed out, refused the work): counts toward opening.
    package func failed(reason: String) {
        change { breaker, now in breaker.recordFailure(at: now, reason: reason) }
    }

    /// The dependency reported itself down (connection lost, publishing blocked): opens at once.
    package func trip(reason: String) {
        change { breaker, now in breaker.trip(at: now, reason: reason) }
    }

    /// The dependency moved (a Redis failover finished): while open, the next request probes at once.
    package func dependencyMoved() {
        let now = clock()
        let wasOpen = breaker.withLock { breaker in
            defer { breaker.probeNow(at: now) }
            return breaker.isRefusing(at: now)
        }
        if wasOpen { logger.info("the dependency moved: the next request probes it", metadata: ["dependency": "\(dependency)"]) }
    }

    /// The request ended without telling anything about the dependency (refused earlier, cancelled).
    package func release(_ ticket: Ticket) {
        guard case .probe = ticket else { return }
        let now = clock()
        breaker.withLock { $0.releaseProbe(at: now) }
    }

    /// True while requests are refused (no I/O: for readiness).
    package var isOpen: Bool {
        let now = clock()
        return breaker.withLock { $0.isRefusing(at: now) }
    }

    /// The 503 problem for the dependency being down now (the breaker opened, or is about to):
    /// `Retry-After` is the rest of the cool-down.
    package func unavailableNow(_ detail: String? = nil) -> GatewayProblem {
        let now = clock()
        return unavailable(retryAfter: breaker.withLock { $0.retryAfter(at: now) }, detail: detail)
    }

    /// The 503 problem for a refused request: `Retry-After` is the rest of the cool-down (≥ 1 s).
    package func unavailable(retryAfter: Duration, detail: String? = nil) -> GatewayProblem {
        let seconds = max(1, Int((Double(retryAfter.components.seconds) + Double(retryAfter.components.attoseconds) / 1e18).rounded(.up)))
        var problem = GatewayProblem.dependencyUnavailable(
            detail ?? "\(dependency.displayName) is unavailable (its circuit breaker is open after failures)",
            retryAfter: seconds)
        problem.dependency = dependency
        return problem
    }

    /// Applies `body`; logs when it opened the breaker.
    private func change(_ body: (inout CircuitBreaker, ContinuousClock.Instant) -> Void) {
        let now = clock()
        let (opened, retryAfter, reason) = breaker.withLock { breaker in
            let wasRefusing = breaker.isRefusing(at: now)
            body(&breaker, now)
            let opened = !wasRefusing && breaker.isRefusing(at: now)
            return (opened, breaker.retryAfter(at: now), breaker.lastFailure ?? "")
        }
        if opened {
            logger.warning("circuit open: requests that need the dependency get 503 until it answers again", metadata: [
                "dependency": "\(dependency)", "reason": "\(reason)", "retry.in": "\(retryAfter)",
            ])
        }
    }
}

/// The gateway's breakers, one per dependency.
package struct GatewayBreakers: Sendable {
    package let redis: DependencyBreaker
    package let rabbitmq: DependencyBreaker

    /// Both breakers with the same `policy`.
    package init(policy: CircuitBreaker.Policy, logger: Logger) {
        redis = DependencyBreaker(.redis, policy: policy, logger: logger)
        rabbitmq = DependencyBreaker(.rabbitmq, policy: policy, logger: logger)
    }
}
