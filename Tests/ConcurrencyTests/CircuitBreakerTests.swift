import PazConcurrency
import Testing

/// The breaker's decisions, driven by instants of the test's own (no clock, no servers).
@Suite("Circuit breaker: closed, open, half-open")
struct CircuitBreakerTests {
    let start = ContinuousClock.now

    func at(_ milliseconds: Int) -> ContinuousClock.Instant { start + .milliseconds(milliseconds) }

    func breaker(threshold: Int = 3, coolDown: Duration = .seconds(1), maximum: Duration? = nil) -> CircuitBreaker {
        CircuitBreaker(policy: .init(failureThreshold: threshold, coolDown: coolDown, maximumCoolDown: maximum,
                                     probeTimeout: .seconds(5)))
    }

    @Test func closedLetsEverythingThroughAndOpensAtTheThreshold() {
        var breaker = breaker(threshold: 3)
        #expect(breaker.decide(at: at(0)) == .allow)
        breaker.recordFailure(at: at(0), reason: "refused")
        breaker.recordFailure(at: at(1), reason: "refused")
        #expect(breaker.state == .closed(failures: 2))
        #expect(breaker.decide(at: at(2)) == .allow)
        breaker.recordFailure(at: at(2), reason: "refused again")
        #expect(breaker.state == .open(until: at(1_002)))
        #expect(breaker.lastFailure == "refused again")
        #expect(breaker.decide(at: at(502)) == .reject(retryAfter: .milliseconds(500)))
        #expect(breaker.isRefusing(at: at(502)))
        #expect(breaker.retryAfter(at: at(502)) == .milliseconds(500))
    }

    @Test func aSuccessResetsTheCount() {
        var breaker = breaker(threshold: 2)
        breaker.recordFailure(at: at(0), reason: "x")
        breaker.recordSuccess()
        breaker.recordFailure(at: at(1), reason: "x")
        #expect(breaker.state == .closed(failures: 1))
        #expect(breaker.decide(at: at(2)) == .allow)
    }

    @Test func afterTheCoolDownExactlyOneProbeGoesThrough() {
        var breaker = breaker(threshold: 1)
        breaker.recordFailure(at: at(0), reason: "down")
        #expect(breaker.decide(at: at(999)) == .reject(retryAfter: .milliseconds(1)))
        #expect(breaker.decide(at: at(1_000)) == .probe)
        #expect(breaker.state == .halfOpen(probeStarted: at(1_000)))
        // Others are refused while the probe is out.
        guard case .reject = breaker.decide(at: at(1_001)) else {
            Issue.record("a second caller must not probe")
            return
        }
        #expect(breaker.isRefusing(at: at(1_001)))
    }

    @Test func aSucceedingProbeClosesTheBreaker() {
        var breaker = breaker(threshold: 1)
        breaker.recordFailure(at: at(0), reason: "down")
        #expect(breaker.decide(at: at(1_000)) == .probe)
        breaker.recordSuccess()
        #expect(breaker.state == .closed(failures: 0))
        #expect(breaker.lastFailure == nil)
        #expect(breaker.decide(at: at(1_001)) == .allow)
        #expect(!breaker.isRefusing(at: at(1_001)))
    }

    @Test func aFailingProbeReopensWithADoubledCoolDownUpToTheCap() {
        var breaker = breaker(threshold: 1, coolDown: .seconds(1), maximum: .seconds(3))
        breaker.recordFailure(at: at(0), reason: "down")
        #expect(breaker.state == .open(until: at(1_000)))
        #expect(breaker.decide(at: at(1_000)) == .probe)
        breaker.recordFailure(at: at(1_000), reason: "still down")
        #expect(breaker.state == .open(until: at(3_000)))  // 2 s
        #expect(breaker.decide(at: at(3_000)) == .probe)
        breaker.recordFailure(at: at(3_000), reason: "still down")
        #expect(breaker.state == .open(until: at(6_000)))  // 4 s, capped at 3 s
        // A success resets the cool-down to its first value.
        #expect(breaker.decide(at: at(6_000)) == .probe)
        breaker.recordSuccess()
        breaker.recordFailure(at: at(7_000), reason: "down again")
        #expect(breaker.state == .open(until: at(8_000)))
    }

    @Test func aLostProbeStopsBlockingAfterTheProbeTimeout() {
        var breaker = breaker(threshold: 1)
        breaker.recordFailure(at: at(0), reason: "down")
        #expect(breaker.decide(at: at(1_000)) == .probe)
        guard case .reject = breaker.decide(at: at(5_999)) else {
            Issue.record("the probe is still within its timeout")
            return
        }
        #expect(breaker.decide(at: at(6_000)) == .probe)
    }

    @Test func aReleasedProbeLetsTheNextCallerProbeAtOnce() {
        var breaker = breaker(threshold: 1)
        breaker.recordFailure(at: at(0), reason: "down")
        #expect(breaker.decide(at: at(1_000)) == .probe)
        breaker.releaseProbe(at: at(1_010))
        #expect(breaker.decide(at: at(1_010)) == .probe)
    }

    @Test func tripOpensAtOnceAndKeepsARunningCoolDown() {
        var breaker = breaker(threshold: 5)
        breaker.trip(at: at(0), reason: "connection lost")
        #expect(breaker.state == .open(until: at(1_000)))
        breaker.trip(at: at(500), reason: "still lost")
        #expect(breaker.state == .open(until: at(1_000)))
        #expect(breaker.lastFailure == "still lost")
        // A failure reported by a call let through before it opened changes nothing either.
        breaker.recordFailure(at: at(600), reason: "late")
        #expect(breaker.state == .open(until: at(1_000)))
    }

    @Test func probeNowLetsTheNextCallProbeBeforeTheCoolDownEndsAndKeepsTheDoubling() {
        var breaker = breaker(threshold: 1, coolDown: .seconds(1), maximum: .seconds(8))
        breaker.recordFailure(at: at(0), reason: "primary died")
        #expect(breaker.decide(at: at(100)) == .reject(retryAfter: .milliseconds(900)))
        breaker.probeNow(at: at(200))
        #expect(breaker.decide(at: at(200)) == .probe)
        #expect(breaker.decide(at: at(201)) == .reject(retryAfter: .seconds(1)))  // one probe at a time
        breaker.recordFailure(at: at(300), reason: "not promoted yet")
        #expect(breaker.state == .open(until: at(2_300)))  // second opening: doubled
        breaker.probeNow(at: at(400))
        #expect(breaker.decide(at: at(400)) == .probe)
        breaker.recordSuccess()
        breaker.probeNow(at: at(500))  // closed: nothing to do
        #expect(breaker.state == .closed(failures: 0))
    }
}
