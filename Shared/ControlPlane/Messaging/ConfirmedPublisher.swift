import Foundation
package import PazAMQP
package import PazSchemas

/// One message to publish.
package struct OutgoingMessage: Sendable {
    package var exchange: String
    package var routingKey: String
    package var body: [UInt8]
    package var properties: AMQPProperties
    /// Fail (``PazAMQP/AMQPError/unroutable(exchange:routingKey:replyCode:replyText:)``) when no queue takes it.
    package var mandatory: Bool

    package init(exchange: String, routingKey: String, body: [UInt8], properties: AMQPProperties, mandatory: Bool) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
        self.mandatory = mandatory
    }

    /// An envelope as a persistent JSON message (`type` = its kind, `message-id` = its id).
    package init<Payload: MessagePayload>(
        _ envelope: Envelope<Payload>, exchange: String, routingKey: String, mandatory: Bool
    ) throws(SchemaError) {
        self.init(
            exchange: exchange, routingKey: routingKey, body: try MessageCodec.encodeBody(envelope),
            properties: AMQPProperties(
                messageID: envelope.messageId.rawValue, contentType: Routing.contentType, type: envelope.kind.rawValue),
            mandatory: mandatory)
    }

    /// An event on `paz.events` (routing key = its kind; no queue bound is not an error).
    package static func event(_ event: EventEnvelope) throws(SchemaError) -> OutgoingMessage {
        try OutgoingMessage(
            event, exchange: Routing.eventsExchange, routingKey: Routing.eventRoutingKey(event.kind), mandatory: false)
    }
}

/// Publishes persistent messages and waits for RabbitMQ's confirms: the one way every service
/// publishes what must not be lost (commands, events, retries, dead letters).
package struct ConfirmedPublisher: Sendable {
    /// The connection it publishes on.
    package let amqp: AMQPConnection

    package init(amqp: AMQPConnection) {
        self.amqp = amqp
    }

    /// The pauses before a nacked message is published again. RabbitMQ nacks a message a queue it
    /// routes to could not take at that moment: a classic queue being deleted, a quorum queue whose
    /// leader is not running (just declared, restarting, being deleted) or that did not register
    /// this channel as its publisher in time (docs/control-plane.md, "Nacked publishes"). A queue
    /// that did take it gets a duplicate, which consumers already handle (delivery is at least once).
    static let nackRetryPauses: [Duration] = [.milliseconds(50), .milliseconds(200), .milliseconds(500), .seconds(1)]

    /// Publishes one message and waits for its confirm; a nacked one is published again after each
    /// of ``nackRetryPauses`` before the nack is thrown.
    package func publish(_ message: OutgoingMessage) async throws(AMQPError) {
        var pauses = Self.nackRetryPauses[...]
        while true {
            do {
                try await amqp.publish(
                    exchange: message.exchange, routingKey: message.routingKey, body: message.body,
                    properties: message.properties, mandatory: message.mandatory)
                return
            } catch .nacked(let exchange, let routingKey) {
                guard let pause = pauses.popFirst() else { throw .nacked(exchange: exchange, routingKey: routingKey) }
                do {
                    try await Task.sleep(for: pause)
                } catch {
                    throw .cancelled
                }
            }
        }
    }

    /// Publishes an event (``OutgoingMessage/event(_:)``) and waits for its confirm.
    package func publish(event: EventEnvelope) async throws(PublishError) {
        let message: OutgoingMessage
        do {
            message = try .event(event)
        } catch {
            throw .encoding(error)
        }
        do {
            try await publish(message)
        } catch {
            throw .broker(error)
        }
    }

    /// Publishes every message with all confirms in flight at once, and returns each one's outcome
    /// (in order) once all are settled. A message whose outcome is a failure may still have been
    /// stored (a lost connection or a confirm timeout cannot tell).
    package func publishAll(_ messages: [OutgoingMessage]) async -> [Result<Void, AMQPError>] {
        await withTaskGroup(of: (Int, Result<Void, AMQPError>).self) { group in
            for (index, message) in messages.enumerated() {
                group.addTask {
                    do throws(AMQPError) {
                        try await publish(message)
                        return (index, .success(()))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var results = [Result<Void, AMQPError>](repeating: .success(()), count: messages.count)
            for await (index, result) in group { results[index] = result }
            return results
        }
    }

    /// Republishes `delivery` (from `queue`) to the dead-letter exchange with the reason headers.
    package func deadLetter(_ delivery: AMQPDelivery, from queue: String, reason: String, detail: String)
        async throws(AMQPError)
    {
        var properties = delivery.properties
        properties.replyTo = nil
        properties.expiration = nil
        properties.persistent = true
        properties.headers[Routing.deadLetterReasonHeader] = .string(reason)
        properties.headers[Routing.deadLetterDetailHeader] = .string(String(detail.prefix(1000)))
        if properties.headers[Routing.originUserHeader] == nil, let sender = delivery.properties.userID {
            properties.headers[Routing.originUserHeader] = .string(sender)
        }
        try await publish(OutgoingMessage(
            exchange: Routing.deadLetterExchange, routingKey: queue, body: delivery.body, properties: properties,
            mandatory: false))
    }

    /// Republishes `delivery` to `tier`; after the tier's delay it returns to `queue` carrying
    /// `failedAttempts`, `deferrals`, the last error and its original sender.
    package func retry(
        _ delivery: AMQPDelivery, to queue: String, tier: RetryTier, failedAttempts: Int, deferrals: Int,
        lastError: String, originalSender: String?
    ) async throws(AMQPError) {
        var properties = delivery.properties
        properties.persistent = true
        properties.headers[Routing.failedAttemptsHeader] = .int(Int64(failedAttempts))
        properties.headers[Routing.deferralsHeader] = .int(Int64(deferrals))
        properties.headers[Routing.lastErrorHeader] = .string(String(lastError.prefix(1000)))
        properties.headers[Routing.originUserHeader] = originalSender.map(AMQPHeaderValue.string)
        properties.headers["x-delivery-count"] = nil
        try await publish(OutgoingMessage(
            exchange: tier.name, routingKey: queue, body: delivery.body, properties: properties, mandatory: true))
    }
}

/// Why an event or command could not be published.
package enum PublishError: Error, Sendable, CustomStringConvertible {
    /// It could not be encoded (a bug).
    case encoding(SchemaError)
    /// RabbitMQ did not confirm it.
    case broker(AMQPError)

    package var description: String {
        switch self {
        case .encoding(let error): "the message could not be encoded: \(error)"
        case .broker(let error): "\(error)"
        }
    }
}
