import PazControlPlane
import Testing

@Suite("Retry decisions (pure)")
struct RetryPolicyTests {
    let policy = RetryPolicy(maxAttempts: 3, delays: [RetryTier(seconds: 1), RetryTier(seconds: 5)], maxDeferrals: 2)

    @Test("Done acks; a dead letter keeps its reason")
    func terminalOutcomes() {
        #expect(policy.settlement(for: .done, attempt: 1, deferrals: 0) == .ack)
        #expect(policy.settlement(for: .deadLetter(reason: "r", detail: "d"), attempt: 1, deferrals: 0)
            == .deadLetter(reason: "r", detail: "d"))
    }

    @Test("A retry waits longer each time, then the last attempt's failure is dead-lettered with its error")
    func retriesThenDeadLetter() {
        #expect(policy.settlement(for: .retry(reason: "e1"), attempt: 1, deferrals: 0)
            == .retry(tier: RetryTier(seconds: 1), failedAttempts: 1, deferrals: 0, lastError: "e1"))
        #expect(policy.settlement(for: .retry(reason: "e2"), attempt: 2, deferrals: 0)
            == .retry(tier: RetryTier(seconds: 5), failedAttempts: 2, deferrals: 0, lastError: "e2"))
        guard case .deadLetter(let reason, let detail) = policy.settlement(for: .retry(reason: "e3"), attempt: 3, deferrals: 0)
        else { Issue.record("the third failure must be dead-lettered"); return }
        #expect(reason == "retries-exhausted")
        #expect(detail.contains("e3") && detail.contains("3 of 3"))
        // Beyond the budget (redeliveries after a crash) too.
        #expect(policy.settlement(for: .retry(reason: "e"), attempt: 7, deferrals: 0)
            == .deadLetter(reason: "retries-exhausted", detail: "failed 7 of 3 attempts; last error: e"))
    }

    @Test("The last delay repeats once the list runs out")
    func lastDelayRepeats() {
        let long = RetryPolicy(maxAttempts: 10, delays: [RetryTier(seconds: 1), RetryTier(seconds: 2)], maxDeferrals: 0)
        guard case .retry(let tier, _, _, _) = long.settlement(for: .retry(reason: "x"), attempt: 6, deferrals: 0) else {
            Issue.record("expected a retry"); return
        }
        #expect(tier == RetryTier(seconds: 2))
    }

    @Test("A deferral spends no attempt and counts itself; too many are dead-lettered")
    func deferrals() {
        #expect(policy.settlement(for: .deferred(reason: "busy"), attempt: 2, deferrals: 0)
            == .retry(tier: RetryPolicy.deferralTier, failedAttempts: 1, deferrals: 1, lastError: "busy"))
        guard case .deadLetter(let reason, _) = policy.settlement(for: .deferred(reason: "busy"), attempt: 1, deferrals: 2)
        else { Issue.record("expected a dead letter"); return }
        #expect(reason == "deferrals-exhausted")
    }

    @Test("The attempt counts failures and redeliveries")
    func attempts() {
        #expect(RetryPolicy.attempt(failedAttempts: 0, deliveryCount: nil) == 1)
        #expect(RetryPolicy.attempt(failedAttempts: 2, deliveryCount: nil) == 3)
        #expect(RetryPolicy.attempt(failedAttempts: 2, deliveryCount: 1) == 4)
        #expect(RetryPolicy.attempt(failedAttempts: -4, deliveryCount: -1) == 1)
    }

    @Test("Every policy's delays are declared retry queues")
    func tiersAreDeclared() {
        for policy in [RetryPolicy.commands, .storeWrites, .requests] {
            #expect(policy.delays.allSatisfy(RetryPolicy.tiers.contains))
        }
        #expect(RetryPolicy.tiers.contains(RetryPolicy.deferralTier))
        #expect(RetryTier(seconds: 5).name == "paz.retry.5s")
    }
}
