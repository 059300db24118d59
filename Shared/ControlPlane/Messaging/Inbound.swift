package import PazAMQP
package import PazSchemas

/// One decoded message handed to a handler, with what the kit knows about its history.
package struct Inbound<Payload: MessagePayload>: Sendable {
    /// The decoded envelope.
    package let envelope: Envelope<Payload>
    /// The raw delivery (properties, epoch).
    package let delivery: AMQPDelivery
    /// Which attempt this is (1 for the first), counting earlier failures and redeliveries.
    package let attempt: Int
    /// Whether no further attempt will follow a `.retry` outcome.
    package let isLastAttempt: Bool
    /// How often it was deferred.
    package let deferrals: Int
    /// The AMQP user that sent it first: RabbitMQ's `user-id`, or for a message this service
    /// republished for a retry, the original sender it carries.
    package let sender: String?
    /// The error of the previous attempt, if it failed.
    package let lastError: String?
}

/// Reading headers off a delivery.
extension AMQPDelivery {
    package func intHeader(_ name: String) -> Int {
        if case .int(let value) = properties.headers[name] { return Int(value) }
        return 0
    }

    package func stringHeader(_ name: String) -> String? {
        if case .string(let value) = properties.headers[name] { return value }
        return nil
    }

    /// The original sender: `user-id`, unless the message was republished by `ownUser` (a retry),
    /// whose origin header then names the sender (no one else can publish with `ownUser`'s id).
    package func originalSender(ownUser: String) -> String? {
        guard let userID = properties.userID, userID == ownUser else { return properties.userID }
        return stringHeader(Routing.originUserHeader) ?? userID
    }
}
