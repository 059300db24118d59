package import Logging
package import PazAMQP
package import PazControlPlane
import PazSchemas

/// The broker's connections (``PazControlPlane/ServiceConnections``) with its topology: the shared
/// exchanges and its request queue.
package typealias BrokerConnections = ServiceConnections

extension ServiceConnections {
    /// Connections for the broker `configuration` describes.
    package convenience init(configuration: BrokerConfiguration, logger: Logger) {
        let queue = configuration.queue
        self.init(
            amqp: configuration.amqp, redis: configuration.redis, probeInterval: configuration.redisProbeInterval,
            logger: logger, declare: { connection throws(AMQPError) in try await Self.declareTopology(queue: queue, on: connection) })
    }

    /// The shared exchanges and dead-letter queue, and the request queue: a quorum queue on the
    /// default exchange (routing key = its name) with the common delivery limit and dead-lettering,
    /// the same shape as every other service queue. Replicas compete on it; a request whose replica
    /// died unacked is redelivered to another, and one that keeps killing replicas is dead-lettered
    /// after ``PazSchemas/Routing/deliveryLimit`` deliveries.
    package static func declareTopology(queue: String, on connection: AMQPConnection) async throws(AMQPError) {
        try await ControlPlaneTopology.declareShared(on: connection)
        try await connection.declare(
            .quorum(name: queue, deliveryLimit: Routing.deliveryLimit, deadLetterExchange: Routing.deadLetterExchange))
    }
}
