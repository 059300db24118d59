/// A header or argument value (AMQP field table entry).
package enum AMQPHeaderValue: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case bool(Bool)
}

/// Message properties. Messages are persistent (delivery mode 2) unless `persistent` is false.
package struct AMQPProperties: Sendable, Hashable {
    package var messageID: String?
    package var correlationID: String?
    package var replyTo: String?
    package var contentType: String?
    package var type: String?
    package var headers: [String: AMQPHeaderValue]
    /// Per-message TTL in milliseconds, as a decimal string (AMQP's format).
    package var expiration: String?
    package var persistent: Bool
    /// The AMQP `user-id` property: on a delivery, the user name of the connection that published it
    /// (RabbitMQ refuses a publish whose user-id differs from its connection's user, so it cannot be
    /// forged). Every publish sets it to the connection's own user; a value given here is replaced.
    package var userID: String?

    package init(
        messageID: String? = nil, correlationID: String? = nil, replyTo: String? = nil,
        contentType: String? = nil, type: String? = nil, headers: [String: AMQPHeaderValue] = [:],
        expiration: String? = nil, persistent: Bool = true, userID: String? = nil
    ) {
        self.messageID = messageID
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.contentType = contentType
        self.type = type
        self.headers = headers
        self.expiration = expiration
        self.persistent = persistent
        self.userID = userID
    }
}

/// A message delivered to a consumer (or an RPC reply).
package struct AMQPDelivery: Sendable {
    package var body: [UInt8]
    package var properties: AMQPProperties
    /// True when the broker delivered this message before (to this or another consumer).
    package var redelivered: Bool
    /// The channel-scoped tag used to ack/nack; void after a reconnect.
    package var deliveryTag: UInt64
    package var exchange: String
    package var routingKey: String
    package var consumerTag: String
    /// Which connection generation delivered it (stale tags are refused, never sent); compare
    /// with ``AMQPConnection/epoch`` to tell whether it can still be settled.
    package let epoch: UInt64

    /// `x-delivery-count` set by quorum queues on redeliveries (nil on the first delivery).
    package var deliveryCount: Int? {
        if case .int(let count) = properties.headers["x-delivery-count"] { return Int(count) }
        return nil
    }

    /// The body as UTF-8 text.
    package var text: String { String(decoding: body, as: UTF8.self) }
}
