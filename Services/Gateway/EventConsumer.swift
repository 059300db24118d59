import Foundation
import Logging
import PazAMQP
import PazControlPlane
import PazSchemas
import PazStore
import ServiceLifecycle

/// The AMQP names the gateway declares at start (docs/control-plane.md, "AMQP topology").
enum GatewayTopology {
    /// The gateway's own event queue.
    static let eventsQueue = Routing.gatewayEventsQueue

    static func declare(on amqp: AMQPConnection) async throws(AMQPError) {
        try await ControlPlaneTopology.declareShared(on: amqp)
        try await ControlPlaneTopology.declareQueue(
            eventsQueue, boundTo: Routing.eventsExchange, routingKey: Routing.eventRoutingKey(.eventOperation), on: amqp)
        var deadLetters = AMQPQueue.quorum(name: Routing.gatewayDeadLettersQueue, deliveryLimit: Routing.deliveryLimit)
        deadLetters.otherArguments["x-max-length"] = .int(Int64(ControlPlaneTopology.deadLetterCapacity))
        try await ControlPlaneTopology.declareReplacingClassic(deadLetters, on: amqp)
        try await amqp.bind(
            AMQPBinding(queue: Routing.gatewayDeadLettersQueue, exchange: Routing.deadLetterExchange, routingKey: ""))
    }
}

/// Applies `event.operation` events to the store, in order: progress per machine, machine details
/// on success, forgetting removed machines and clusters. Acked after the store write; while Redis
/// is down an event is retried later (``PazControlPlane/RetryPolicy/storeWrites``); an unreadable
/// one is dead-lettered with the reason headers.
struct EventConsumer: Service {
    let connections: ServiceConnections
    let logger: Logger

    private var store: Store { connections.store }

    func run() async throws {
        let consumer = MessageConsumer(
            EventPayload.self, connections: connections,
            settings: ConsumerSettings(queue: GatewayTopology.eventsQueue, prefetch: 32, concurrent: false, retry: .storeWrites),
            logger: logger) { event in await handle(event) }
        await consumer.run()
    }

    private func handle(_ event: Inbound<EventPayload>) async -> HandlerOutcome {
        let envelope = event.envelope
        guard case .operation(let progress) = envelope.payload, let tenant = envelope.tenantId,
            let operation = envelope.operationId
        else {
            return .deadLetter(
                reason: "unexpected-event",
                detail: "\(envelope.kind.rawValue) without tenant/operation on \(GatewayTopology.eventsQueue)")
        }
        do {
            try await apply(progress, operation: operation, tenant: tenant)
            return .done
        } catch {
            logger.warning("Event not applied; it will be retried", metadata: ["operation": "\(operation)", "error": "\(error)"])
            return error.isRetriable ? .retry(reason: "store: \(error)") : .deadLetter(reason: "store-refused", detail: "\(error)")
        }
    }

    private func apply(_ event: OperationProgress, operation: OperationID, tenant: TenantID) async throws(StoreError) {
        for progress in event.machines {
            // The machine first, then the progress: whoever sees the operation succeed (the CLI
            // waiting for it) finds the machine's address, or finds it gone. Both writes are
            // idempotent, so a retried event applies them again.
            if progress.phase == .succeeded, var machine = try await store.machine(progress.machine.machineId, tenant: tenant) {
                if event.command == MessageKind.machineRemove.rawValue {
                    try await store.removeMachine(machine, tenant: tenant)
                } else if let details = progress.details {
                    machine.details = details
                    try await store.saveMachine(machine, tenant: tenant)
                }
            }
            try await store.recordProgress(progress, operation: operation, tenant: tenant)
        }
        guard let view = try await store.operation(operation, tenant: tenant), view.record.kind == "cluster.delete",
            view.phase == .succeeded,
            let cluster = try await store.cluster(view.record.target.clusterId.rawValue, tenant: tenant)
        else { return }
        for id in cluster.machineIds {
            if let machine = try await store.machine(id, tenant: tenant) { try await store.removeMachine(machine, tenant: tenant) }
        }
        try await store.removeCluster(cluster, tenant: tenant)
        logger.info("cluster removed", metadata: ["cluster": "\(cluster.id)", "operation": "\(operation)"])
    }
}
