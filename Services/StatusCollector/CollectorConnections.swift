package import Logging
import PazAMQP
package import PazControlPlane

/// The collector's connections (``PazControlPlane/ServiceConnections``) with its topology: the shared
/// exchanges and its events queue.
package typealias CollectorConnections = ServiceConnections

extension ServiceConnections {
    /// Connections for the collector `configuration` describes.
    package convenience init(configuration: CollectorConfiguration, logger: Logger) {
        let topology = CollectorTopology(eventsQueue: configuration.eventsQueue)
        self.init(
            amqp: configuration.amqp, redis: configuration.redis, probeInterval: configuration.redisProbeInterval,
            logger: logger, declare: { connection throws(AMQPError) in try await topology.declare(on: connection) })
    }
}
