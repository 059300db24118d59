import Foundation
import HTTPTypes
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
    }
}

/// Applies `event.operation` events to the store: progress per machine, machine details on success,
/// forgetting removed machines and clusters. Acks only after the store write; undecodable messages
/// are republished to `paz.dead-letter` with the reason headers, then acked.
struct EventConsumer: Service {
    let amqp: AMQPConnection
    let store: Store
    let logger: Logger

    func run() async throws {
        let consumer: AMQPConsumer
        do {
            // The broker may be down at start: keep trying, but give up quietly on shutdown.
            consumer = try await cancelWhenGracefulShutdown { try await startConsuming() }
        } catch is CancellationError {
            return
        }
        await withGracefulShutdownHandler {
            for await delivery in consumer {
                await handle(delivery)
            }
        } onGracefulShutdown: {
            Task { await consumer.cancel() }
        }
    }

    /// Waits for the broker (it may be down at start), declares the topology, starts consuming.
    private func startConsuming() async throws -> AMQPConsumer {
        while true {
            switch await attemptToConsume() {
            case .success(let consumer): return consumer
            case .failure(let error):
                guard error.isRetriable else { throw error }
                logger.warning("event consumer waiting for RabbitMQ", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .seconds(1))
            }
        }
    }

    private func attemptToConsume() async -> Result<AMQPConsumer, AMQPError> {
        do throws(AMQPError) {
            // Short waits: waitUntilConnected does not notice cancellation, and shutdown should be quick.
            try await amqp.waitUntilConnected(timeout: .seconds(1))
            try await GatewayTopology.declare(on: amqp)
            return .success(try await amqp.consume(queue: GatewayTopology.eventsQueue, prefetch: 32))
        } catch {
            return .failure(error)
        }
    }

    private func handle(_ delivery: AMQPDelivery) async {
        let envelope: EventEnvelope
        do {
            envelope = try MessageCodec.decode(EventPayload.self, from: Data(delivery.body))
        } catch {
            await deadLetter(delivery, reason: error.reason, detail: error.description)
            return
        }
        guard case .operation(let progress) = envelope.payload, let tenant = envelope.tenantId,
            let operation = envelope.operationId
        else {
            await deadLetter(delivery, reason: "unexpected-event", detail: "\(envelope.kind.rawValue) without tenant/operation on \(GatewayTopology.eventsQueue)")
            return
        }
        do {
            try await apply(progress, operation: operation, tenant: tenant)
            try await amqp.ack(delivery)
        } catch let error as StoreError {
            logger.warning("event not applied; it will be redelivered", metadata: ["operation": "\(operation)", "error": "\(error)"])
            try? await Task.sleep(for: .milliseconds(200))
            try? await amqp.nack(delivery, requeue: true)
        } catch {
            logger.warning("event ack failed", metadata: ["operation": "\(operation)", "error": "\(error)"])
        }
    }

    private func apply(_ event: OperationProgress, operation: OperationID, tenant: TenantID) async throws(StoreError) {
        for progress in event.machines {
            try await store.recordProgress(progress, operation: operation, tenant: tenant)
            guard progress.phase == .succeeded else { continue }
            guard var machine = try await store.machine(progress.machine.machineId, tenant: tenant) else { continue }
            if event.command == MessageKind.machineRemove.rawValue {
                try await store.removeMachine(machine, tenant: tenant)
            } else if let details = progress.details {
                machine.details = details
                try await store.saveMachine(machine, tenant: tenant)
            }
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

    private func deadLetter(_ delivery: AMQPDelivery, reason: String, detail: String) async {
        var properties = delivery.properties
        properties.headers[Routing.deadLetterReasonHeader] = .string(reason)
        properties.headers[Routing.deadLetterDetailHeader] = .string(detail)
        do {
            try await amqp.publish(
                exchange: Routing.deadLetterExchange, routingKey: GatewayTopology.eventsQueue, body: delivery.body,
                properties: properties, mandatory: false)
            try await amqp.ack(delivery)
            logger.warning("event dead-lettered", metadata: ["reason": "\(reason)"])
        } catch {
            logger.warning("dead-lettering failed; the event will be redelivered", metadata: ["error": "\(error)"])
        }
    }
}
