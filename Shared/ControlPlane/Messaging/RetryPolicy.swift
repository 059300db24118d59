import PazSchemas

/// What a message handler decided about one message. The consumer turns it into a ``Settlement``
/// with its ``RetryPolicy``, the same way in every service.
package enum HandlerOutcome: Sendable, Hashable {
    /// Handled (or nothing to do): acknowledge.
    case done
    /// Failed in a way a later attempt may fix (a dependency was down, a provider throttled): tried
    /// again after a growing delay while attempts remain, then dead-lettered with `reason`.
    case retry(reason: String)
    /// Could not start yet (its machine is busy with another command): tried again after a short
    /// delay without spending an attempt, while deferrals remain.
    case deferred(reason: String)
    /// Never worth retrying: dead-lettered with a reason code and a readable detail.
    case deadLetter(reason: String, detail: String)
}

/// How a consumer settles a delivery.
package enum Settlement: Sendable, Hashable {
    /// Acknowledge it.
    case ack
    /// Republish it to `tier` (it comes back to the same queue when the tier's delay expires) with
    /// the counters it carries from now on, then acknowledge the original.
    case retry(tier: RetryTier, failedAttempts: Int, deferrals: Int, lastError: String)
    /// Republish it to the dead-letter exchange with these reason headers, then acknowledge it.
    case deadLetter(reason: String, detail: String)
}

/// A delay queue: messages wait there for ``delay`` and then go back, through the default
/// exchange, to the queue named by their routing key. One queue per delay, so each expires in order.
package struct RetryTier: Sendable, Hashable, CustomStringConvertible {
    /// How long a message waits.
    package let delay: Duration

    package init(seconds: Int) {
        delay = .seconds(seconds)
    }

    /// The fanout exchange to publish to, and the name of its queue: `paz.retry.<seconds>s`.
    package var name: String { Routing.retryQueueName(seconds: Int(delay.components.seconds)) }

    package var description: String { name }
}

/// The retry rules of a consumer: how many attempts a message gets, how long it waits between
/// them, how often it may be deferred. Pure: its decisions are unit-tested without a broker.
package struct RetryPolicy: Sendable, Hashable {
    /// Every delay queue the control plane declares (all services must agree on them).
    package static let tiers = Routing.retryDelaysSeconds.map(RetryTier.init(seconds:))
    /// The delay before a deferred message is tried again.
    package static let deferralTier = RetryTier(seconds: 2)

    /// Attempts in all (the first included); the last failure is dead-lettered.
    package var maxAttempts: Int
    /// Delays between attempts: after the n-th failure the n-th (the last one once they run out).
    package var delays: [RetryTier]
    /// Deferrals allowed before the message is dead-lettered as stuck.
    package var maxDeferrals: Int

    package init(maxAttempts: Int, delays: [RetryTier], maxDeferrals: Int) {
        precondition(maxAttempts >= 1 && !delays.isEmpty, "a retry policy needs an attempt and a delay")
        self.maxAttempts = maxAttempts
        self.delays = delays
        self.maxDeferrals = maxDeferrals
    }

    /// Commands to drivers: 5 attempts, 1 s, 2 s, 5 s, 10 s apart (18 s of waiting); a command
    /// waiting for its machine is deferred every 2 s for up to an hour.
    package static let commands = RetryPolicy(
        maxAttempts: 5, delays: Array(tiers.prefix(4)), maxDeferrals: 1800)
    /// Events and dead letters the store must take: 40 attempts, 1 s growing to 30 s apart — an
    /// outage of about 17 minutes is ridden out before one is given up.
    package static let storeWrites = RetryPolicy(maxAttempts: 40, delays: tiers, maxDeferrals: 0)

    /// Requests (RPCs): answered once, never retried — their caller's deadline is short.
    package static let requests = RetryPolicy(maxAttempts: 1, delays: [tiers[0]], maxDeferrals: 0)

    /// The attempt a delivery is: the failures its headers count, plus the broker's redeliveries
    /// of this copy (a consumer that died with it unacked), plus one.
    package static func attempt(failedAttempts: Int, deliveryCount: Int?) -> Int {
        max(0, failedAttempts) + max(0, deliveryCount ?? 0) + 1
    }

    /// How to settle `outcome` of attempt `attempt` (1-based) of a message deferred `deferrals` times.
    package func settlement(for outcome: HandlerOutcome, attempt: Int, deferrals: Int) -> Settlement {
        switch outcome {
        case .done:
            return .ack
        case .deadLetter(let reason, let detail):
            return .deadLetter(reason: reason, detail: detail)
        case .retry(let reason):
            guard attempt < maxAttempts else {
                return .deadLetter(
                    reason: "retries-exhausted", detail: "failed \(attempt) of \(maxAttempts) attempts; last error: \(reason)")
            }
            return .retry(tier: delay(afterAttempt: attempt), failedAttempts: attempt, deferrals: deferrals, lastError: reason)
        case .deferred(let reason):
            guard deferrals < maxDeferrals else {
                return .deadLetter(reason: "deferrals-exhausted", detail: "deferred \(deferrals) times; \(reason)")
            }
            // A deferral spends no attempt: the counters stay where the last failure left them.
            return .retry(
                tier: Self.deferralTier, failedAttempts: attempt - 1, deferrals: deferrals + 1, lastError: reason)
        }
    }

    /// The delay after the `attempt`-th failure.
    func delay(afterAttempt attempt: Int) -> RetryTier {
        delays[min(max(attempt, 1), delays.count) - 1]
    }
}
