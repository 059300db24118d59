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
        try await ControlPlaneTopology.declareReplacing(deadLetters, on: amqp)
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
        // The records first, then the progress: whoever sees the operation succeed (the CLI waiting
        // for it) finds the machine's address, or finds the machine (and a deleted cluster) gone.
        // Every write is idempotent, so a retried event applies them again.
        for progress in event.machines where progress.phase == .succeeded {
            guard var machine = try await store.machine(progress.machine.machineId, tenant: tenant) else { continue }
            if event.command == MessageKind.machineRemove.rawValue {
                try await store.removeMachine(machine, tenant: tenant)
            } else if let details = progress.details {
                machine.details = details
                try await store.saveMachine(machine, tenant: tenant)
            }
        }
        if let view = try await store.operation(operation, tenant: tenant), view.record.kind == "cluster.delete",
            Self.phase(of: view, after: event) == .succeeded,
            let cluster = try await store.cluster(view.record.target.clusterId.rawValue, tenant: tenant)
        {
            for id in cluster.machineIds {
                if let machine = try await store.machine(id, tenant: tenant) { try await store.removeMachine(machine, tenant: tenant) }
            }
            try await store.removeCluster(cluster, tenant: tenant)
            logger.info("cluster removed", metadata: ["cluster": "\(cluster.id)", "operation": "\(operation)"])
        }
        for progress in event.machines {
            try await store.recordProgress(progress, operation: operation, tenant: tenant)
        }
    }

    /// The operation's phase once `event` is recorded (``Store/recordProgress(_:operation:tenant:)``
    /// keeps a machine's finished progress against a later unfinished one).
    private static func phase(of view: OperationView, after event: OperationProgress) -> OperationPhase {
        var byMachine = Dictionary(view.progress.map { ($0.machine.machineId, $0) }, uniquingKeysWith: { $1 })
        for progress in event.machines where progress.phase.isFinished || byMachine[progress.machine.machineId]?.phase.isFinished != true {
            byMachine[progress.machine.machineId] = progress
        }
        var after = view
        after.progress = view.record.machines.compactMap { byMachine[$0.machineId] }
        return after.phase
    }
}
