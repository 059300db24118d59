package import PazAMQP
import PazSchemas

/// The AMQP objects every service declares (docs/control-plane.md, "AMQP topology"). Declarations
/// are idempotent only when they match byte for byte (same type and arguments), so they live here once.
/// The connection remembers them and declares them again after a reconnect.
package enum ControlPlaneTopology {
    /// How long a dead letter stays in ``PazSchemas/Routing/deadLetterQueue`` for inspection.
    package static let deadLetterRetention = Duration.seconds(7 * 24 * 3600)
    /// How many dead letters it keeps (the oldest go first).
    package static let deadLetterCapacity = 10_000
    /// How many messages may wait in one retry queue; beyond that a retry is refused (nacked), so a
    /// flood never grows it without bound.
    package static let retryCapacity = 100_000

    /// The exchanges (`paz.commands`, `paz.events`, `paz.dead-letter`), the bounded dead-letter
    /// queue and the retry queues (``RetryPolicy/tiers``).
    package static func declareShared(on connection: AMQPConnection) async throws(AMQPError) {
        try await connection.declare(AMQPExchange(name: Routing.commandsExchange, kind: .direct))
        try await connection.declare(AMQPExchange(name: Routing.eventsExchange, kind: .topic))
        try await connection.declare(AMQPExchange(name: Routing.deadLetterExchange, kind: .fanout))
        var deadLetters = AMQPQueue.quorum(name: Routing.deadLetterQueue, deliveryLimit: Routing.deliveryLimit)
        deadLetters.messageTTLMilliseconds = Int(deadLetterRetention.components.seconds) * 1000
        deadLetters.otherArguments["x-max-length"] = .int(Int64(deadLetterCapacity))
        try await declareReplacing(deadLetters, on: connection)
        try await connection.bind(
            AMQPBinding(queue: Routing.deadLetterQueue, exchange: Routing.deadLetterExchange, routingKey: ""))
        for tier in RetryPolicy.tiers {
            try await connection.declare(AMQPExchange(name: tier.name, kind: .fanout))
            try await connection.declare(retryQueue(tier))
            try await connection.bind(AMQPBinding(queue: tier.name, exchange: tier.name, routingKey: ""))
        }
    }

    /// A retry tier's queue: a quorum queue whose messages expire after the tier's delay and are
    /// dead-lettered, at least once, to the default exchange under their own routing key — the
    /// name of the queue they came from.
    static func retryQueue(_ tier: RetryTier) -> AMQPQueue {
        var queue = AMQPQueue(name: tier.name, deadLetterExchange: "")
        queue.quorum = true
        let (seconds, attoseconds) = tier.delay.components
        queue.messageTTLMilliseconds = Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
        queue.otherArguments = [
            "x-dead-letter-strategy": .string("at-least-once"), "x-overflow": .string("reject-publish"),
            "x-max-length": .int(Int64(retryCapacity)),
        ]
        return queue
    }

    /// A service's own quorum queue (delivery limit, dead-lettering to `paz.dead-letter`), bound to
    /// `exchange` with `routingKey`.
    package static func declareQueue(
        _ name: String, boundTo exchange: String, routingKey: String, on connection: AMQPConnection
    ) async throws(AMQPError) {
        try await connection.declare(
            .quorum(name: name, deliveryLimit: Routing.deliveryLimit, deadLetterExchange: Routing.deadLetterExchange))
        try await connection.bind(AMQPBinding(queue: name, exchange: exchange, routingKey: routingKey))
    }

    /// A queue of RPC requests (a driver's queries): a transient classic queue, which answers in
    /// about half the time of a quorum queue (docs/benchmarks.md, `amqp-rpc`) and needs no
    /// durability — a request expires within a minute and its caller gives up at its own deadline.
    /// Availability comes from its consumers: when the RabbitMQ node that holds it goes down, the
    /// cluster deletes it, and every consumer declares it again on the node it is (re)connected to
    /// (``PazAMQP/AMQPConnection``); the requests in it at that moment are lost, and their callers
    /// time out. At most 10,000 wait; beyond that a request is dropped at once (its caller times
    /// out) instead of queueing. Expired requests are dropped, not dead-lettered. A quorum queue of
    /// the same name (versions before this one) is replaced.
    package static func declareRequestQueue(
        _ name: String, boundTo exchange: String, routingKey: String, on connection: AMQPConnection
    ) async throws(AMQPError) {
        var queue = AMQPQueue(name: name, durable: false, autoDelete: false)
        queue.messageTTLMilliseconds = 60_000
        queue.otherArguments = ["x-max-length": .int(10_000), "x-overflow": .string("reject-publish")]
        try await declareReplacing(queue, on: connection)
        try await connection.bind(AMQPBinding(queue: name, exchange: exchange, routingKey: routingKey))
    }

    /// Declares `queue`, which an earlier version declared with another type or durability (the
    /// dead-letter queue and request queues were classic before the cluster topology; request queues
    /// were quorum queues between it and transient request queues). Such a queue holds only
    /// requests that expire within a minute or copies of dead letters, so the old one is deleted and
    /// the queue declared again (once, at the first start of the new version; docs/operations.md,
    /// "Upgrading: queues that change type").
    package static func declareReplacing(_ queue: AMQPQueue, on connection: AMQPConnection) async throws(AMQPError) {
        do {
            try await connection.declare(queue)
        } catch .channelClosed(_, let code, let text)
            where code == 406 && (text.contains("x-queue-type") || text.contains("'durable'"))
        {
            _ = try await connection.deleteQueue(queue.name)
            try await connection.declare(queue)
        }
    }
}
