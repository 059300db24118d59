package import Foundation

/// When and how long to wait before sending a request again.
///
/// Only idempotent requests are retried, and only after a 429, a 500/502/503/504 or a transport failure
/// that may be transient (timeout, refused or broken connection). The wait is jittered exponential
/// backoff — a random duration between half and all of `min(maximumDelay, baseDelay × 2^(attempt−1))` —
/// except after a response carrying `Retry-After` (429, 503), which is honoured up to `maximumRetryAfter`.
package struct RetryPolicy: Sendable {
    /// Attempts in total, including the first (1 = never retry).
    package var maxAttempts: Int
    package var baseDelay: Duration
    package var maximumDelay: Duration
    /// Upper bound for a server-requested `Retry-After` wait.
    package var maximumRetryAfter: Duration

    package init(
        maxAttempts: Int = 4,
        baseDelay: Duration = .milliseconds(200),
        maximumDelay: Duration = .seconds(10),
        maximumRetryAfter: Duration = .seconds(60)
    ) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maximumDelay = maximumDelay
        self.maximumRetryAfter = maximumRetryAfter
    }

    /// Never retry.
    package static let none = RetryPolicy(maxAttempts: 1)

    /// Statuses worth another attempt.
    package static func isRetriableStatus(_ status: Int) -> Bool {
        status == 429 || status == 500 || status == 502 || status == 503 || status == 504
    }

    /// The jittered backoff before attempt `attempt + 1`.
    package func backoff(afterAttempt attempt: Int) -> Duration {
        let exponent = Double(min(attempt - 1, 30))
        let ceiling = min(maximumDelay.seconds, baseDelay.seconds * pow(2, exponent))
        return .seconds(ceiling * Double.random(in: 0.5...1.0))
    }

    /// The wait before retrying after `response`: its `Retry-After` (seconds or HTTP-date), else the
    /// `RateLimit-Reset` of a 429 (DigitalOcean and Hetzner send a Unix time), capped, when present and
    /// valid; otherwise the backoff.
    package func delay(afterAttempt attempt: Int, response: HTTPResponse?, now: Date = Date()) -> Duration {
        if let value = response?.headers["Retry-After"], let requested = RetryPolicy.parseRetryAfter(value, now: now) {
            return min(requested, maximumRetryAfter)
        }
        if response?.status == 429, let value = response?.headers["RateLimit-Reset"],
           let requested = RetryPolicy.parseRateLimitReset(value, now: now)
        {
            return min(requested, maximumRetryAfter)
        }
        return backoff(afterAttempt: attempt)
    }

    /// Parses `RateLimit-Reset`: a Unix time (what DigitalOcean and Hetzner send) or, for a value too
    /// small to be one, delay-seconds (the IETF draft's form). A time in the past is 0.
    package static func parseRateLimitReset(_ value: String, now: Date = Date()) -> Duration? {
        guard let number = Int(value.trimmingCharacters(in: .whitespaces)), number >= 0 else { return nil }
        guard number >= 1_000_000_000 else { return .seconds(number) }
        return .seconds(max(0, Double(number) - now.timeIntervalSince1970))
    }

    /// Parses `Retry-After`: delay-seconds or an IMF-fixdate (RFC 9110 §10.2.3). A date in the past is 0.
    package static func parseRetryAfter(_ value: String, now: Date = Date()) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed) {
            return seconds >= 0 ? .seconds(seconds) : nil
        }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard let date = formatter.date(from: trimmed) else { return nil }
        return .seconds(max(0, date.timeIntervalSince(now)))
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
