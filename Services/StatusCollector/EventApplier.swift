import PazControlPlane
import Foundation
import Logging
import PazAMQP
import PazSchemas
import PazStore
import ServiceLifecycle

/// Applies `event.machine.state` events (from drivers after their operations) as soon as they
/// arrive, from the quorum queue ``CollectorConfiguration/eventsQueue``, in order, through the
/// control plane's ``PazControlPlane/MessageConsumer``.
///
/// Each event is a compare-and-set write (its own `observedAt` and `source`): an older observation,
/// or an event about a machine that is not recorded, changes nothing. The delivery is acked after
/// the write. An event that cannot be read is dead-lettered with reason headers. While Redis is
/// down an event is retried later (``PazControlPlane/RetryPolicy/storeWrites``: for about 17
/// minutes), so an outage delays states but loses none.
///
/// On graceful shutdown the consumer is cancelled; the event in hand is finished and acked first.
package struct EventApplier: Service {
    private let connections: CollectorConnections
    private let recorder: StateRecorder
    private let settings: ConsumerSettings
    private let logger: Logger

    init(connections: CollectorConnections, configuration: CollectorConfiguration, metrics: CollectorMetrics, logger: Logger) {
        self.connections = connections
        self.recorder = StateRecorder(amqp: connections.amqp, store: connections.store, metrics: metrics, logger: logger)
        self.settings = ConsumerSettings(
            queue: configuration.eventsQueue, prefetch: configuration.eventPrefetch, concurrent: false, retry: .storeWrites)
        var logger = logger
        logger[metadataKey: "component"] = "event-applier"
        self.logger = logger
    }

    package func run() async throws {
        let consumer = MessageConsumer(
            EventPayload.self, connections: connections, settings: settings, logger: logger,
            observe: { [metrics = recorder.metrics] settlement in
                if case .deadLetter = settlement { metrics.event(.deadLettered) }
            },
            handler: { event in await apply(event) })
        await consumer.run()
    }

    private func apply(_ event: Inbound<EventPayload>) async -> HandlerOutcome {
        let envelope = event.envelope
        guard case .machineState(let change) = envelope.payload, let tenant = envelope.tenantId else {
            return .deadLetter(
                reason: "unexpected-kind",
                detail: "\(envelope.kind.rawValue) on the state events queue; only event.machine.state belongs here")
        }
        // A collector (this one or a replica) wrote a polled state before it published the change;
        // applying it again could only come back stale.
        if change.source == .poll {
            recorder.metrics.event(.ownPoll)
            return .done
        }
        let record = StateRecord(state: change.newState, observedAt: change.observedAt, source: change.source)
        let result: StateWrite
        do {
            result = try await recorder.write(record, machine: change.machine, tenant: tenant)
        } catch where error.isRetriable {
            logger.warning("Could not apply a state event; it will be retried", metadata: ["error": "\(error)"])
            return .retry(reason: "status store (Redis): \(error)")
        } catch {
            return .deadLetter(reason: "store-refused", detail: error.description)
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
        return .done
    }
}
