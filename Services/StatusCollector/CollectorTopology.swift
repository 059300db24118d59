import PazAMQP
import PazSchemas

/// The AMQP objects the collector uses (docs/control-plane.md, "AMQP topology"). Declarations are
/// idempotent and must match every other service's byte for byte (same type and arguments).
struct CollectorTopology: Sendable {
    /// The quorum queue the collector applies `event.machine.state` events from.
    let eventsQueue: String

    /// Declares the exchanges, the dead-letter queue, and the events queue with its binding. The
    /// connection remembers them and declares them again after a reconnect.
    func declare(on connection: AMQPConnection) async throws(AMQPError) {
        try await connection.declare(AMQPExchange(name: Routing.commandsExchange, kind: .direct))
        try await connection.declare(AMQPExchange(name: Routing.eventsExchange, kind: .topic))
        try await connection.declare(AMQPExchange(name: Routing.deadLetterExchange, kind: .fanout))
        try await connection.declare(AMQPQueue(name: Routing.deadLetterQueue))
        try await connection.bind(
            AMQPBinding(queue: Routing.deadLetterQueue, exchange: Routing.deadLetterExchange, routingKey: ""))
        try await connection.declare(
            .quorum(name: eventsQueue, deliveryLimit: Routing.deliveryLimit, deadLetterExchange: Routing.deadLetterExchange))
        try await connection.bind(
            AMQPBinding(
                queue: eventsQueue, exchange: Routing.eventsExchange,
                routingKey: Routing.eventRoutingKey(.eventMachineState)))
    }
}
