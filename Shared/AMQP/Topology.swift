/// An exchange to declare. Remembered by the connection and declared again after each reconnect.
package struct AMQPExchange: Sendable, Hashable {
    /// Exchange types.
    package enum Kind: String, Sendable {
        case direct, topic, fanout, headers
    }

    package var name: String
    package var kind: Kind
    package var durable: Bool

    /// A (by default durable) exchange.
    package init(name: String, kind: Kind, durable: Bool = true) {
        self.name = name
        self.kind = kind
        self.durable = durable
    }
}

/// A queue to declare. Remembered by the connection and declared again after each reconnect.
package struct AMQPQueue: Sendable, Hashable {
    package var name: String
    package var durable: Bool
    package var exclusive: Bool
    package var autoDelete: Bool
    /// `x-queue-type=quorum` (replicated, durable; needed for `x-delivery-limit`).
    package var quorum: Bool
    /// `x-delivery-limit`: after this many redeliveries the message is dead-lettered (quorum queues).
    package var deliveryLimit: Int?
    /// `x-dead-letter-exchange`.
    package var deadLetterExchange: String?
    /// `x-dead-letter-routing-key`.
    package var deadLetterRoutingKey: String?
    /// `x-message-ttl` in milliseconds.
    package var messageTTLMilliseconds: Int?
    /// Further `x-…` arguments (`x-max-length`, `x-overflow`, `x-dead-letter-strategy`…).
    package var otherArguments: [String: AMQPHeaderValue] = [:]

    /// A classic queue.
    package init(
        name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
        deadLetterExchange: String? = nil, deadLetterRoutingKey: String? = nil, messageTTLMilliseconds: Int? = nil
    ) {
        self.name = name
        self.durable = durable
        self.exclusive = exclusive
        self.autoDelete = autoDelete
        self.quorum = false
        self.deliveryLimit = nil
        self.deadLetterExchange = deadLetterExchange
        self.deadLetterRoutingKey = deadLetterRoutingKey
        self.messageTTLMilliseconds = messageTTLMilliseconds
    }

    /// A durable quorum queue. RabbitMQ 3.10 has no default delivery limit, so it is required here.
    package static func quorum(
        name: String, deliveryLimit: Int, deadLetterExchange: String? = nil, deadLetterRoutingKey: String? = nil
    ) -> AMQPQueue {
        var queue = AMQPQueue(
            name: name, deadLetterExchange: deadLetterExchange, deadLetterRoutingKey: deadLetterRoutingKey)
        queue.quorum = true
        queue.deliveryLimit = deliveryLimit
        return queue
    }

    /// The `x-…` arguments of queue.declare.
    var arguments: [(String, AMQPHeaderValue)] {
        var arguments: [(String, AMQPHeaderValue)] = []
        if quorum { arguments.append(("x-queue-type", .string("quorum"))) }
        if let deliveryLimit { arguments.append(("x-delivery-limit", .int(Int64(deliveryLimit)))) }
        if let deadLetterExchange { arguments.append(("x-dead-letter-exchange", .string(deadLetterExchange))) }
        if let deadLetterRoutingKey { arguments.append(("x-dead-letter-routing-key", .string(deadLetterRoutingKey))) }
        if let messageTTLMilliseconds { arguments.append(("x-message-ttl", .int(Int64(messageTTLMilliseconds)))) }
        arguments += otherArguments.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        return arguments
    }
}

/// A queue-to-exchange binding. Remembered and re-declared after each reconnect.
package struct AMQPBinding: Sendable, Hashable {
    package var queue: String
    package var exchange: String
    package var routingKey: String

    package init(queue: String, exchange: String, routingKey: String) {
        self.queue = queue
        self.exchange = exchange
        self.routingKey = routingKey
    }
}

/// Counts returned by a passive queue.declare.
package struct AMQPQueueStatus: Sendable, Hashable {
    /// Messages ready for delivery (not counting unacknowledged ones).
    package var messageCount: Int
    /// Active consumers.
    package var consumerCount: Int
}

/// One remembered declaration, replayed in order after a reconnect.
enum TopologyItem: Sendable, Hashable {
    case exchange(AMQPExchange)
    case queue(AMQPQueue)
    case binding(AMQPBinding)
}
