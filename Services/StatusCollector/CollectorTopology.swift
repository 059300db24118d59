import PazAMQP
import PazControlPlane
import PazSchemas

/// The AMQP objects the collector uses (docs/control-plane.md, "AMQP topology"). Declarations are
/// idempotent and must match every other service's byte for byte (same type and arguments).
struct CollectorTopology: Sendable {
    /// The quorum queue the collector applies `event.machine.state` events from.
    let eventsQueue: String

    /// Declares the exchanges, the dead-letter queue, and the events queue with its binding. The
    /// connection remembers them and declares them again after a reconnect.
    func declare(on connection: AMQPConnection) async throws(AMQPError) {
        try await ControlPlaneTopology.declareShared(on: connection)
        try await ControlPlaneTopology.declareQueue(
            eventsQueue, boundTo: Routing.eventsExchange, routingKey: Routing.eventRoutingKey(.eventMachineState),
            on: connection)
    }
}
