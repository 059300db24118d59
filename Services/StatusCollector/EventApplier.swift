import PazControlPlane
import Foundation
import Logging
import PazAMQP
import PazSchemas
import PazStore
import ServiceLifecycle

/// Applies `event.machine.state` events (from drivers after their operations, and the collector's
/// own) as soon as they arrive, from the quorum queue ``CollectorConfiguration/eventsQueue``.
///
/// Each event is a compare-and-set write (its own `observedAt` and `source`): an older observation,
/// or an event about a machine that is not recorded, changes nothing. The delivery is acked after
/// the write. An event that cannot be read is republished to the dead-letter exchange with reason
/// headers (confirmed), then acked. While Redis is down the event is retried in place with backoff,
/// so an outage delays states but loses none.
///
/// On graceful shutdown the consumer is cancelled; the event in hand is finished and acked first.
package struct EventApplier: Service {
    private let connections: CollectorConnections
    private let recorder: StateRecorder
    private let queue: String
    private let prefetch: UInt16
    private let logger: Logger

    init(connections: CollectorConnections, configuration: CollectorConfiguration, metrics: CollectorMetrics, logger: Logger) {
        self.connections = connections
        self.recorder = StateRecorder(amqp: connections.amqp, store: connections.store, metrics: metrics, logger: logger)
        self.queue = configuration.eventsQueue
        self.prefetch = configuration.eventPrefetch
        var logger = logger
        logger[metadataKey: "component"] = "event-applier"
        logger[metadataKey: "amqp.queue"] = "\(configuration.eventsQueue)"
        self.logger = logger
    }

    package func run() async throws {
        guard let consumer = await startConsumer() else { return }
        logger.info("Applying state events")
        // Graceful shutdown cancels the loop: the stream then ends (cancelling the consumer) after
        // the event in hand, whose Redis write and ack do not observe cancellation.
        await cancelWhenGracefulShutdown {
            for await delivery in consumer {
                await handle(delivery)
            }
        }
        logger.info("Event applier stopped")
    }

    /// Declares the topology and starts consuming, retrying while the broker is away; nil when
    /// graceful shutdown came first.
    private func startConsumer() async -> AMQPConsumer? {
        while await connections.prepareTopology() {
            do {
                return try await connections.amqp.consume(queue: queue, prefetch: prefetch)
            } catch {
                logger.warning("Could not start consuming state events; retrying", metadata: ["error": "\(error)"])
                guard await sleepUnlessShuttingDown(.seconds(1)) else { return nil }
            }
        }
        return nil
    }

    private func handle(_ delivery: AMQPDelivery) async {
        let envelope: EventEnvelope
        do {
            envelope = try MessageCodec.decode(EventPayload.self, from: Data(delivery.body))
        } catch {
            await deadLetter(delivery, reason: error.reason, detail: error.description)
            return
        }
        guard case .machineState(let change) = envelope.payload, let tenant = envelope.tenantId else {
            await deadLetter(
                delivery, reason: "unexpected-kind",
                detail: "\(envelope.kind.rawValue) on the state events queue; only event.machine.state belongs here")
            return
        }
        // A collector (this one or a replica) wrote a polled state before it published the change;
        // applying it again could only come back stale.
        if change.source == .poll {
            recorder.metrics.event(.ownPoll)
            await ack(delivery)
            return
        }
        let record = StateRecord(state: change.newState, observedAt: change.observedAt, source: change.source)
        guard let result = await writeRetrying(record, machine: change.machine, tenant: tenant, delivery: delivery) else {
            return  // shutting down before Redis came back: unacked, the broker redelivers it
        }
        switch result {
        case .written: recorder.metrics.event(.applied)
        case .stale: recorder.metrics.event(.stale)
        case .unknownMachine: recorder.metrics.event(.unknownMachine)
        }
        logger.debug("Applied a state event", metadata: [
            "tenant.id": "\(tenant.rawValue)", "machine.id": "\(change.machine.machineId.rawValue)",
            "state.new": "\(change.newState.rawValue)", "state.source": "\(change.source.rawValue)",
            "result": "\(result)", "message.id": "\(envelope.messageId.rawValue)",
        ])
        await ack(delivery)
    }

    /// The write, retried while Redis is unreachable; nil when graceful shutdown came first.
    /// A non-retriable store error (a damaged stored value) dead-letters the event.
    private func writeRetrying(
        _ record: StateRecord, machine: MachineRef, tenant: TenantID, delivery: AMQPDelivery
    ) async -> StateWrite? {
        var delay = Duration.milliseconds(100)
        while true {
            do {
                return try await recorder.write(record, machine: machine, tenant: tenant)
            } catch where error.isRetriable {
                logger.warning(
                    "Could not apply a state event; retrying", metadata: ["error": "\(error)", "retry.in": "\(delay)"])
                guard await sleepUnlessShuttingDown(delay) else { return nil }
                delay = min(delay * 2, .seconds(5))
            } catch {
                await deadLetter(delivery, reason: "store-refused", detail: error.description)
                return nil
            }
        }
    }

    /// Republishes the body unchanged to the dead-letter exchange with the reason headers, waits
    /// for the confirm, then acks. If the republish fails the delivery is rejected instead (the
    /// queue's own dead-lettering takes it), so a poison message never blocks the queue.
    private func deadLetter(_ delivery: AMQPDelivery, reason: String, detail: String) async {
        recorder.metrics.event(.deadLettered)
        logger.warning("Dead-lettering an unreadable state event", metadata: [
            "dead-letter.reason": "\(reason)", "error": "\(detail)",
            "message.id": "\(delivery.properties.messageID ?? "none")",
        ])
        var properties = delivery.properties
        properties.headers[Routing.deadLetterReasonHeader] = .string(reason)
        properties.headers[Routing.deadLetterDetailHeader] = .string(String(detail.prefix(1000)))
        do {
            try await connections.amqp.publish(
                exchange: Routing.deadLetterExchange, routingKey: queue, body: delivery.body, properties: properties)
            await ack(delivery)
        } catch {
            logger.error("Could not republish to the dead-letter exchange; rejecting", metadata: ["error": "\(error)"])
            try? await connections.amqp.reject(delivery, requeue: false)
        }
    }

    private func ack(_ delivery: AMQPDelivery) async {
        do {
            try await connections.amqp.ack(delivery)
        } catch {
            // A stale delivery (the connection was replaced) is redelivered; the write is idempotent.
            logger.warning("Could not ack a state event", metadata: ["error": "\(error)"])
        }
    }
}
