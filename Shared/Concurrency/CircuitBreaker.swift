/// The decision logic of a circuit breaker, as a value: no locks, no clock, no I/O.
///
/// - **closed**: every call is let through; ``Policy/failureThreshold`` failures in a row open it.
/// - **open**: every call is refused at once (``Decision/reject(retryAfter:)``) until the cool-down
///   has passed. The cool-down doubles with every opening that no success separates, from
///   ``Policy/coolDown`` up to ``Policy/maximumCoolDown``.
/// - **half-open**: after the cool-down, the next caller is the probe (``Decision/probe``) and is let
///   through alone; the others are still refused. Its success closes the breaker, its failure opens it
///   again. A probe that never reports (lost, cancelled without ``releaseProbe(at:)``) stops
///   counting after ``Policy/probeTimeout``: the next caller probes.
///
/// The owner keeps it behind a lock (a `Mutex`) and passes the time in, so tests drive it with
/// instants of their own.
///
/// ```swift
/// var breaker = CircuitBreaker(policy: .init(failureThreshold: 3, coolDown: .seconds(1)))
/// switch breaker.decide(at: .now) {
/// case .allow, .probe: /* call, then recordSuccess() or recordFailure(at:reason:) */
/// case .reject(let retryAfter): /* fail fast */
/// }
/// ```
package struct CircuitBreaker: Sendable {
    /// When the breaker opens and how long it stays open.
    package struct Policy: Sendable, Equatable {
        /// Failures in a row that open a closed breaker (at least 1).
        package var failureThreshold: Int
        /// How long the breaker stays open the first time.
        package var coolDown: Duration
        /// The cap of the doubling cool-down.
        package var maximumCoolDown: Duration
        /// How long a probe may take before another caller may probe instead.
        package var probeTimeout: Duration

        /// A policy; `maximumCoolDown` defaults to `coolDown` (no doubling), `probeTimeout` to 10 s.
        package init(
            failureThreshold: Int, coolDown: Duration, maximumCoolDown: Duration? = nil,
            probeTimeout: Duration = .seconds(10)
        ) {
            self.failureThreshold = max(1, failureThreshold)
            self.coolDown = max(coolDown, .zero)
            self.maximumCoolDown = max(maximumCoolDown ?? coolDown, self.coolDown)
            self.probeTimeout = max(probeTimeout, .zero)
        }
    }

    /// Where the breaker stands.
    package enum State: Sendable, Equatable {
        /// Calls pass; `failures` in a row so far.
        case closed(failures: Int)
        /// Calls are refused until `until`.
        case open(until: ContinuousClock.Instant)
        /// One probe is in flight since `probeStarted`; other calls are refused.
        case halfOpen(probeStarted: ContinuousClock.Instant)
    }

    /// What a caller may do.
    package enum Decision: Sendable, Equatable {
        /// Closed: go ahead, and report the outcome.
        case allow
        /// Half-open and this caller is the one probe: go ahead, and report the outcome (or
        /// ``CircuitBreaker/releaseProbe(at:)`` when there is none).
        case probe
        /// Open: fail fast; trying again after `retryAfter` may be let through.
        case reject(retryAfter: Duration)
    }

    /// The policy it follows.
    package let policy: Policy
    /// The current state.
    package private(set) var state: State = .closed(failures: 0)
    /// Why it last failed (for error messages and logs), until a success clears it.
    package private(set) var lastFailure: String?
    /// Openings since the last success (the cool-down doubles with each).
    private var openings = 0

    /// A closed breaker following `policy`.
    package init(policy: Policy) {
        self.policy = policy
    }

    /// Whether a call may go ahead at `now`; moves an open breaker whose cool-down passed to half-open
    /// (the caller is then the probe).
    package mutating func decide(at now: ContinuousClock.Instant) -> Decision {
        switch state {
        case .closed:
            return .allow
        case .open(let until):
            guard now >= until else { return .reject(retryAfter: until - now) }
            state = .halfOpen(probeStarted: now)
            return .probe
        case .halfOpen(let started):
            guard now - started >= policy.probeTimeout else {
                return .reject(retryAfter: min(currentCoolDown, started + policy.probeTimeout - now))
            }
            state = .halfOpen(probeStarted: now)
            return .probe
        }
    }

    /// A call succeeded: the dependency answers. Closes the breaker.
    package mutating func recordSuccess() {
        state = .closed(failures: 0)
        openings = 0
        lastFailure = nil
    }

    /// A call failed because of the dependency. Opens a closed breaker at the threshold, reopens a
    /// half-open one; an open breaker stays as it is (the call was let through before it opened).
    package mutating func recordFailure(at now: ContinuousClock.Instant, reason: String) {
        lastFailure = reason
        switch state {
        case .closed(let failures):
            if failures + 1 >= policy.failureThreshold {
                open(at: now)
            } else {
                state = .closed(failures: failures + 1)
            }
        case .halfOpen:
            open(at: now)
        case .open:
            break
        }
    }

    /// The dependency reported itself down (connection lost, publishing blocked): opens the breaker
    /// now, whatever the count. An open breaker keeps its cool-down.
    package mutating func trip(at now: ContinuousClock.Instant, reason: String) {
        lastFailure = reason
        if case .open = state { return }
        open(at: now)
    }

    /// The probe ended without telling anything about the dependency (cancelled, refused before it
    /// reached it): the next caller may probe at once.
    package mutating func releaseProbe(at now: ContinuousClock.Instant) {
        if case .halfOpen = state { state = .open(until: now) }
    }

    /// The dependency may be back before the cool-down ends (it moved: a failover finished): an open
    /// breaker lets the next call probe at once. The cool-down of a later opening is unchanged.
    package mutating func probeNow(at now: ContinuousClock.Instant) {
        if case .open(let until) = state, until > now { state = .open(until: now) }
    }

    /// True while calls are refused (open, or half-open with a probe in flight), at `now`.
    package func isRefusing(at now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .closed: false
        case .open(let until): now < until
        case .halfOpen(let started): now - started < policy.probeTimeout
        }
    }

    /// How long until a call may be let through again (zero when closed), at `now`.
    package func retryAfter(at now: ContinuousClock.Instant) -> Duration {
        switch state {
        case .closed: .zero
        case .open(let until): max(until - now, .zero)
        case .halfOpen(let started): max(min(currentCoolDown, started + policy.probeTimeout - now), .zero)
        }
    }

    /// The cool-down the next opening would use (the current one while open).
    private var currentCoolDown: Duration {
        let doubled = policy.coolDown * (1 << min(max(openings - 1, 0), 20))
        return min(doubled, policy.maximumCoolDown)
    }

    private mutating func open(at now: ContinuousClock.Instant) {
        openings += 1
        state = .open(until: now + currentCoolDown)
    }
}
