import Foundation
package import PazAMQP
package import PazSchemas

/// The one request/reply client of the control plane (driver queries, state polls, SSH broker).
///
/// Every request is transient and unconfirmed (its reply is its confirmation), carries an
/// expiration equal to the caller's deadline (a request nobody took in time expires in its queue
/// instead of piling up), is mandatory, and its wait ends at the deadline or as soon as the calling
/// task is cancelled. A request that no queue takes is sent again after a pause (100 ms, doubling up to 1 s)
/// for up to ``unroutableGrace`` — a transient request queue is declared again by its consumers
/// when its RabbitMQ node was lost — and then fails as unroutable.
package struct RPCClient: Sendable {
    /// Why a call returned no reply.
    package enum Failure: Error, Sendable, Hashable, CustomStringConvertible {
        /// Nobody answered within the deadline.
        case timeout(after: Duration)
        /// No queue takes requests for this routing key (no responder ever declared it).
        case unroutable(String)
        /// RabbitMQ is unreachable or refused the request.
        case unavailable(String)
        /// The caller was cancelled.
        case cancelled
        /// The reply could not be read, or the request not encoded.
        case unreadable(String)

        package var description: String {
            switch self {
            case .timeout(let after): "no reply within \(after)"
            case .unroutable(let detail): "no responder queue: \(detail)"
            case .unavailable(let detail): "the message broker is unavailable: \(detail)"
            case .cancelled: "the request was cancelled"
            case .unreadable(let detail): "unreadable: \(detail)"
            }
        }
    }

    /// The connection requests go out on.
    package let amqp: AMQPConnection
    /// How long an unroutable request is sent again before the call fails (1 s unless told).
    package let unroutableGrace: Duration

    package init(amqp: AMQPConnection, unroutableGrace: Duration = .seconds(1)) {
        self.amqp = amqp
        self.unroutableGrace = unroutableGrace
    }

    /// Sends `request` to `exchange`/`routingKey` and returns the reply envelope (a
    /// `reply.failure` is returned, not thrown: callers map it to their own errors).
    package func call(
        _ request: CommandEnvelope, exchange: String, routingKey: String, timeout: Duration
    ) async throws(Failure) -> ReplyEnvelope {
        let body: [UInt8]
        do {
            body = try MessageCodec.encodeBody(request)
        } catch {
            throw .unreadable("the request could not be encoded: \(error)")
        }
        let start = ContinuousClock.now
        let deadline = start + timeout
        var pause = Duration.milliseconds(100)
        let delivery: AMQPDelivery
        while true {
            let remaining = deadline - ContinuousClock.now
            let properties = AMQPProperties(
                messageID: request.messageId.rawValue, contentType: Routing.contentType, type: request.kind.rawValue,
                expiration: Self.expiration(remaining), persistent: false)
            do {
                delivery = try await amqp.call(
                    exchange: exchange, routingKey: routingKey, body: body, properties: properties, timeout: remaining)
                break
            } catch .unroutable where ContinuousClock.now + pause < min(deadline, start + unroutableGrace) {
                do {
                    try await Task.sleep(for: pause)
                } catch {
                    throw .cancelled
                }
                pause = min(pause * 2, .seconds(1))
            } catch {
                switch error {
                case .rpcTimeout: throw .timeout(after: timeout)
                case .unroutable: throw .unroutable("\(error)")
                case .cancelled: throw .cancelled
                default: throw .unavailable("\(error)")
                }
            }
        }
        do {
            return try MessageCodec.decode(ReplyPayload.self, from: delivery.body)
        } catch {
            throw .unreadable("the reply (\(error.reason)): \(error)")
        }
    }

    /// `timeout` as AMQP's per-message expiration (milliseconds, at least 1).
    static func expiration(_ timeout: Duration) -> String {
        let (seconds, attoseconds) = timeout.components
        return "\(max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000))"
    }
}

/// Answers requests: the responder half of ``RPCClient``.
package struct RPCResponder: Sendable {
    /// The connection replies go out on.
    package let amqp: AMQPConnection

    package init(amqp: AMQPConnection) {
        self.amqp = amqp
    }

    /// Answers `request` with `reply` on its reply-to (transient, its correlation id) and returns
    /// `.done`; a request without reply-to is dead-lettered (`missing-reply-to`). The reply is not
    /// confirmed and not waited for: the caller's deadline covers a lost one, and a caller that is gone is not retried.
    package func answer(_ request: AMQPDelivery, kind: MessageKind, with reply: ReplyEnvelope) async -> HandlerOutcome {
        guard let replyTo = request.properties.replyTo, !replyTo.isEmpty else {
            return .deadLetter(reason: "missing-reply-to", detail: "\(kind.rawValue) is a request and needs a reply-to")
        }
        do {
            let body = try MessageCodec.encodeBody(reply)
            amqp.publishUnconfirmed(
                exchange: "", routingKey: replyTo, body: body,
                properties: AMQPProperties(
                    messageID: reply.messageId.rawValue,
                    correlationID: request.properties.correlationID ?? reply.inReplyTo?.rawValue,
                    contentType: Routing.contentType, type: reply.kind.rawValue, persistent: false))
        } catch {
            // A reply envelope always encodes; were it not to, the caller's deadline covers it.
        }
        return .done
    }
}
