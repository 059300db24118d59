package import Foundation
package import Logging
package import PazAMQP
import PazControlPlane
package import PazSchemas
package import PazStore
import ServiceLifecycle

/// The consumer loop every driver service runs (a ServiceLifecycle `Service`).
///
/// It declares the topology (`paz.commands`, `paz.events`, `paz.dead-letter` and the driver's quorum
/// queue), announces the driver in the registry every ttl/3, and consumes the driver's queue with
/// `prefetch` commands in flight at once:
/// - a message that does not decode is republished to `paz.dead-letter` with the reason headers
///   (confirmed), then acked — a poison message never stops the consumer;
/// - so is a command whose sender may not send it (``DriverServiceConfiguration/authorizeSenders``,
///   reason `unauthorized-sender`): it is never run;
/// - a query (`machine.states`, `catalog.*`, `machine.precheck`, `machine.probe`) is answered on its
///   reply-to with its correlation id, then acked;
/// - a mutating command is journaled, reported (`event.operation` running), run, reported again
///   (`event.machine.state`, `event.operation` succeeded/failed; confirmed) and only then acked.
///   Retriable failures are requeued until the delivery limit; the failure is reported when giving up.
///
/// Graceful shutdown: stop consuming, finish and ack what is in flight, withdraw from the registry, return.
package struct DriverService: Service {
    let driver: any Driver
    let connection: AMQPConnection
    let store: Store
    let configuration: DriverServiceConfiguration
    let logger: Logger

    /// A service for `driver` over an AMQP connection and a store (with the master key, for secrets).
    package init(driver: any Driver, connection: AMQPConnection, store: Store,
                 configuration: DriverServiceConfiguration, logger: Logger) {
        self.driver = driver
        self.connection = connection
        self.store = store
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "driver"] = "\(driver.name)"
        self.logger = logger
    }

    /// The driver's command queue.
    package var queueName: String { Routing.driverCommandQueue(driver: driver.name) }

    package func run() async throws {
        try await connection.waitUntilConnected()
        try await declareTopology()
        let heartbeat = Task { await announceUntilCancelled(startedAt: Date()) }
        let consumer: AMQPConsumer
        do {
            consumer = try await connection.consume(queue: queueName, prefetch: UInt16(configuration.prefetch))
        } catch {
            heartbeat.cancel()
            throw error
        }
        logger.info("consuming driver commands", metadata: ["queue": "\(queueName)", "prefetch": "\(configuration.prefetch)"])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await delivery in consumer {
                    group.addTask { await handle(delivery) }
                }
            }
        } onGracefulShutdown: {
            Task { await consumer.cancel() }
        }
        heartbeat.cancel()
        await heartbeat.value
        do {
            try await store.withdraw(driver: driver.name, instance: configuration.instanceId)
        } catch {
            logger.warning("could not withdraw from the driver registry", metadata: ["error": "\(error)"])
        }
        logger.info("driver service stopped")
    }

    /// Declares exchanges, the dead-letter queue and the driver's quorum queue with its binding.
    func declareTopology() async throws(AMQPError) {
        try await ControlPlaneTopology.declareShared(on: connection)
        try await ControlPlaneTopology.declareQueue(
            queueName, boundTo: Routing.commandsExchange, routingKey: Routing.commandRoutingKey(driver: driver.name),
            on: connection)
    }

    /// The registry entry of this replica.
    package func announcement(startedAt: Date) -> DriverAnnouncement {
        DriverAnnouncement(
            name: driver.name, version: driver.version, instanceId: configuration.instanceId,
            capabilities: driver.capabilities, createOptions: driver.createOptions,
            ttlSeconds: Int(configuration.heartbeatTTL.components.seconds), startedAt: startedAt)
    }

    private func announceUntilCancelled(startedAt: Date) async {
        let entry = announcement(startedAt: startedAt)
        while !Task.isCancelled {
            do {
                try await store.announce(entry)
            } catch {
                logger.warning("driver heartbeat failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: configuration.heartbeatTTL / 3)
        }
    }

    // MARK: Deliveries

    private func handle(_ delivery: AMQPDelivery) async {
        let envelope: CommandEnvelope
        do {
            envelope = try MessageCodec.decode(CommandPayload.self, from: Data(delivery.body))
        } catch {
            await deadLetter(delivery, reason: error.reason, detail: error.description)
            return
        }
        guard let tenant = envelope.tenantId else {
            await deadLetter(delivery, reason: "invalid-field", detail: "tenantId is required on commands")
            return
        }
        if configuration.authorizeSenders, let refusal = Self.refusal(of: envelope.payload, from: delivery.properties.userID) {
            await deadLetter(delivery, reason: "unauthorized-sender", detail: refusal)
            return
        }
        var logger = logger
        logger[metadataKey: "tenant"] = "\(tenant)"
        logger[metadataKey: "command"] = "\(envelope.kind.rawValue)"
        logger[metadataKey: "message"] = "\(envelope.messageId)"
        if let operation = envelope.operationId { logger[metadataKey: "operation"] = "\(operation)" }
        let request = CommandRequest(envelope: envelope, tenant: tenant, delivery: delivery, logger: logger)
        if Self.isQuery(envelope.payload) {
            await answer(request)
        } else {
            await perform(request)
        }
    }

    /// Why `sender` (an AMQP `user-id`) may not send `payload`, or nil when it may: commands only
    /// from the gateway, queries (`machine.states` polls) also from the status collector.
    static func refusal(of payload: CommandPayload, from sender: String?) -> String? {
        let kind = sender.flatMap(ServiceKind.init(userName:))
        if kind == .gateway || (kind == .statusCollector && isQuery(payload)) { return nil }
        let allowed = isQuery(payload) ? "\(ServiceKind.gateway) and \(ServiceKind.statusCollector)" : "\(ServiceKind.gateway)"
        return "\(payload.kind.rawValue) from \(sender.map { "RabbitMQ user '\($0)'" } ?? "a sender without user-id") refused: "
            + "only \(allowed) may send it"
    }

    static func isQuery(_ payload: CommandPayload) -> Bool {
        switch payload {
        case .machineStates, .catalogImages, .catalogSizes, .catalogLocations, .machinePrecheck, .machineProbe: true
        default: false
        }
    }

    /// Republishes the raw message to the dead-letter exchange with the reason (confirmed), then acks it.
    func deadLetter(_ delivery: AMQPDelivery, reason: String, detail: String) async {
        logger.warning("dead-lettering a command", metadata: ["reason": "\(reason)", "detail": "\(detail)"])
        var properties = delivery.properties
        properties.replyTo = nil
        properties.persistent = true
        properties.headers[Routing.deadLetterReasonHeader] = .string(reason)
        properties.headers[Routing.deadLetterDetailHeader] = .string(String(detail.prefix(1000)))
        do {
            try await connection.publish(
                exchange: Routing.deadLetterExchange, routingKey: queueName, body: delivery.body, properties: properties)
        } catch {
            logger.error("could not dead-letter a command", metadata: ["error": "\(error)"])
            // Left unacked: redelivered after a reconnect, or dead-lettered by the queue itself.
            try? await connection.reject(delivery, requeue: error.isRetriable)
            return
        }
        await settle(delivery, logger: logger) { try await connection.ack(delivery) }
    }

    /// Acks or nacks, logging a failure (the broker redelivers an unsettled message).
    func settle(_ delivery: AMQPDelivery, logger: Logger, _ body: () async throws -> Void) async {
        do {
            try await body()
        } catch {
            logger.warning("could not settle a delivery; it will be redelivered", metadata: ["error": "\(error)"])
        }
    }

    /// The context a driver call gets.
    func context(for request: CommandRequest) -> DriverContext {
        DriverContext(
            tenant: request.tenant, operationId: request.envelope.operationId, logger: request.logger, store: store,
            sshBroker: SSHBrokerClient(amqp: connection)
        ) { machine, step in
            let progress = OperationProgress(
                command: request.envelope.kind, phase: .running,
                machines: [MachineProgress(machine: machine, phase: .running, step: step)])
            do {
                try await publishEvent(request.envelope.event(.operation(progress)))
            } catch {
                request.logger.warning("could not publish progress", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Publishes an event to `paz.events` (routing key = kind) and waits for the confirm.
    func publishEvent(_ event: EventEnvelope) async throws {
        let body = try MessageCodec.encode(event)
        try await connection.publish(
            exchange: Routing.eventsExchange, routingKey: Routing.eventRoutingKey(event.kind), body: Array(body),
            properties: AMQPProperties(
                messageID: event.messageId.rawValue, contentType: Routing.contentType, type: event.kind.rawValue),
            mandatory: false)
    }
}

/// One decoded command and where it came from.
struct CommandRequest: Sendable {
    let envelope: CommandEnvelope
    let tenant: TenantID
    let delivery: AMQPDelivery
    let logger: Logger
}
