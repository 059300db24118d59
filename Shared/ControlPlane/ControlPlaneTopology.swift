package import PazAMQP
import PazSchemas

/// The AMQP objects every service declares (docs/control-plane.md, "AMQP topology"). Declarations
/// are idempotent only when they match byte for byte (same type and arguments), so they live here once.
/// The connection remembers them and declares them again after a reconnect.
package enum ControlPlaneTopology {
    /// The exchanges (`paz.commands`, `paz.events`, `paz.dead-letter`) and the dead-letter queue.
    package static func declareShared(on connection: AMQPConnection) async throws(AMQPError) {
        try await connection.declare(AMQPExchange(name: Routing.commandsExchange, kind: .direct))
        try await connection.declare(AMQPExchange(name: Routing.eventsExchange, kind: .topic))
        try await connection.declare(AMQPExchange(name: Routing.deadLetterExchange, kind: .fanout))
        try await connection.declare(AMQPQueue(name: Routing.deadLetterQueue))
        try await connection.bind(
            AMQPBinding(queue: Routing.deadLetterQueue, exchange: Routing.deadLetterExchange, routingKey: ""))
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
}
