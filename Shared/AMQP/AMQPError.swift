/// Everything that can go wrong in ``AMQPConnection``; carries the library status or the broker's reply.
package enum AMQPError: Error, Sendable, CustomStringConvertible {
    /// The connection is down (reconnecting); `reason` is the last failure.
    case notConnected(reason: String)
    /// TCP connect or AMQP handshake failed (`status` is librabbitmq's code, `message` its text).
    case connectionFailed(endpoint: String, status: Int32, message: String)
    /// The broker refused the credentials or the virtual host.
    case accessRefused(user: String, virtualHost: String, replyText: String)
    /// librabbitmq reported an error during `operation`.
    case library(operation: String, status: Int32, message: String)
    /// The broker closed a channel because of `operation` (404 not found, 406 precondition failed…).
    case channelClosed(operation: String, replyCode: UInt16, replyText: String)
    /// The broker closed the connection (320 forced shutdown, 501 frame error…).
    case connectionClosed(replyCode: UInt16, replyText: String)
    /// The connection was lost before the broker confirmed or answered.
    case connectionLost(operation: String, reason: String)
    /// The broker refused a published message (basic.nack).
    case nacked(exchange: String, routingKey: String)
    /// A mandatory message could not be routed to any queue (basic.return).
    case unroutable(exchange: String, routingKey: String, replyCode: UInt16, replyText: String)
    /// No confirm arrived in time; the message may or may not have been stored.
    case confirmTimeout(after: Duration)
    /// The broker blocks publishing on this connection (`connection.blocked`: a memory or disk alarm;
    /// `reason` is the broker's). A new publish was not sent; one already sent and not yet confirmed
    /// may or may not be stored once the alarm clears.
    case blocked(reason: String)
    /// No RPC reply arrived in time.
    case rpcTimeout(routingKey: String, after: Duration)
    /// The delivery came from an earlier connection; its tag is void (the broker will redeliver it).
    case staleDelivery(deliveryTag: UInt64)
    /// ``AMQPConnection/close()`` was called.
    case closed
    /// The calling task was cancelled while it waited.
    case cancelled

    /// True when trying again later (after reconnect, backoff) may succeed.
    package var isRetriable: Bool {
        switch self {
        case .notConnected, .connectionFailed, .connectionLost, .nacked, .confirmTimeout, .rpcTimeout,
            .connectionClosed, .library, .blocked:
            true
        case .channelClosed(_, let code, _):
            // 404/406/403 are caller mistakes; others (e.g. 405 resource locked) may clear up.
            ![403, 404, 406].contains(code)
        case .accessRefused, .unroutable, .staleDelivery, .closed, .cancelled:
            false
        }
    }

    /// True when a publish that failed with this error certainly left nothing stored: the message
    /// was refused before it was sent, or RabbitMQ returned or nacked it. A lost connection or a
    /// confirm timeout leaves the outcome unknown.
    package var leftMessageUnstored: Bool {
        switch self {
        case .notConnected, .connectionFailed, .accessRefused, .unroutable, .nacked, .closed, .cancelled: true
        default: false
        }
    }

    package var description: String {
        switch self {
        case .notConnected(let reason):
            "not connected to RabbitMQ (reconnecting; last error: \(reason)); retry later"
        case .connectionFailed(let endpoint, let status, let message):
            "could not connect to RabbitMQ at \(endpoint): \(message) (status \(status)); is the broker running and the port right?"
        case .accessRefused(let user, let virtualHost, let replyText):
            "RabbitMQ refused user \(user) on vhost \(virtualHost): \(replyText); check the credentials and vhost permissions"
        case .library(let operation, let status, let message):
            "\(operation) failed: \(message) (librabbitmq status \(status))"
        case .channelClosed(let operation, let code, let text):
            "RabbitMQ closed the channel during \(operation): \(code) \(text)"
        case .connectionClosed(let code, let text):
            "RabbitMQ closed the connection: \(code) \(text)"
        case .connectionLost(let operation, let reason):
            "connection lost before \(operation) completed (\(reason)); the outcome is unknown, retry it"
        case .nacked(let exchange, let routingKey):
            "RabbitMQ refused the message for exchange '\(exchange)' routing key '\(routingKey)' (basic.nack); retry it"
        case .unroutable(let exchange, let routingKey, let code, let text):
            "no queue is bound for exchange '\(exchange)' routing key '\(routingKey)': \(code) \(text); declare the queue and binding"
        case .confirmTimeout(let after):
            "RabbitMQ did not confirm the message within \(after); it may or may not be stored"
        case .blocked(let reason):
            "RabbitMQ blocks publishing (resource alarm: \(reason)); the message was not confirmed "
                + "(if it was already sent it may still be stored once the alarm clears). Retry later; "
                + "free memory or disk on the broker node"
        case .rpcTimeout(let routingKey, let after):
            "no reply to the request sent to '\(routingKey)' within \(after); is a responder consuming that queue?"
        case .staleDelivery(let tag):
            "delivery \(tag) belongs to a connection that was lost; it will be redelivered, do not ack it again"
        case .closed:
            "the AMQP connection was closed by its owner"
        case .cancelled:
            "the wait was cancelled"
        }
    }
}
