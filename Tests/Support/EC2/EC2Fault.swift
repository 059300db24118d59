/// A fault the ``EC2FaultProxy`` injects: how the next ``count`` requests (of ``action``, or any)
/// are answered instead of by moto.
package struct EC2Fault: Sendable, Encodable {
    /// What the client gets.
    package enum Answer: Sendable {
        /// HTTP `status` with EC2's XML error body:
        /// `<Response><Errors><Error><Code>…</Code><Message>…</Message></Error></Errors><RequestID>…</RequestID></Response>`.
        case error(status: Int, code: String, message: String)
        /// The connection is closed without an answer (curl: "Empty reply from server", status 52).
        case disconnect
        /// The request (before forwarding) or moto's answer (after) is held back this long, then goes on.
        case delay(Duration)
    }

    /// Whether moto sees the request.
    package enum Timing: String, Sendable {
        /// The proxy answers instead of forwarding: moto never sees the request.
        case beforeForwarding = "before"
        /// The proxy forwards, moto acts, and its answer is replaced: the client does not learn that
        /// the request took effect (a retried RunInstances makes a second instance: moto ignores `ClientToken`).
        case afterForwarding = "after"
    }

    package var answer: Answer
    /// The EC2 action (`RunInstances`; `RunInstances:DryRun` for its DryRun check) the fault applies to;
    /// nil for every request.
    package var action: String?
    /// How many requests it takes (at least 1).
    package var count: Int
    package var timing: Timing

    package init(_ answer: Answer, action: String? = nil, count: Int = 1, timing: Timing = .beforeForwarding) {
        self.answer = answer
        self.action = action
        self.count = max(1, count)
        self.timing = timing
    }

    /// 503 `RequestLimitExceeded`: EC2's throttling of API requests.
    package static func requestLimitExceeded(action: String? = nil, count: Int = 1, timing: Timing = .beforeForwarding) -> EC2Fault {
        EC2Fault(.error(status: 503, code: "RequestLimitExceeded", message: "Request limit exceeded."), action: action, count: count, timing: timing)
    }

    /// 400 `Throttling`.
    package static func throttling(action: String? = nil, count: Int = 1, timing: Timing = .beforeForwarding) -> EC2Fault {
        EC2Fault(.error(status: 400, code: "Throttling", message: "Rate exceeded"), action: action, count: count, timing: timing)
    }

    /// 500 `InternalError`.
    package static func internalError(action: String? = nil, count: Int = 1, timing: Timing = .beforeForwarding) -> EC2Fault {
        EC2Fault(
            .error(status: 500, code: "InternalError", message: "An internal error has occurred."), action: action, count: count,
            timing: timing
        )
    }

    /// moto acts at once, its answer reaches the client `seconds` later: a window in which the client
    /// has made something without knowing it (e.g. to kill the client in).
    package static func held(action: String? = nil, for delay: Duration, count: Int = 1) -> EC2Fault {
        EC2Fault(.delay(delay), action: action, count: count, timing: .afterForwarding)
    }

    /// The connection closes without an answer.
    package static func disconnect(action: String? = nil, count: Int = 1, timing: Timing = .beforeForwarding) -> EC2Fault {
        EC2Fault(.disconnect, action: action, count: count, timing: timing)
    }

    private enum CodingKeys: String, CodingKey {
        case kind, status, code, message, seconds, action, count, timing
    }

    /// The rule as `ec2_fault_proxy.py` reads it.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        switch answer {
        case .error(let status, let code, let message):
            try container.encode("error", forKey: .kind)
            try container.encode(status, forKey: .status)
            try container.encode(code, forKey: .code)
            try container.encode(message, forKey: .message)
        case .disconnect:
            try container.encode("disconnect", forKey: .kind)
        case .delay(let delay):
            try container.encode("delay", forKey: .kind)
            try container.encode(Double(delay.components.seconds) + Double(delay.components.attoseconds) / 1e18, forKey: .seconds)
        }
        try container.encodeIfPresent(action, forKey: .action)
        try container.encode(count, forKey: .count)
        try container.encode(timing.rawValue, forKey: .timing)
    }
}
