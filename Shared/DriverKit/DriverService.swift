package import Foundation
package import Logging
package import PazAMQP
import PazControlPlane
package import PazSchemas
package import PazStore
import ServiceLifecycle

/// The consumers every driver service runs (a ServiceLifecycle `Service`), on the control plane's
/// ``PazControlPlane/MessageConsumer``.
///
/// It declares the topology (the shared exchanges and retry queues, the driver's quorum command
/// queue and its query queue), announces the driver in the registry every ttl/3, and consumes:
/// - **commands** (`paz.driver.<name>.commands`, `prefetch` at once): each is journaled, reported
///   (`event.operation` running), run, reported again (`event.machine.state`, `event.operation`
///   succeeded/failed; confirmed) and only then acked. A retriable failure is retried later with
///   backoff (``PazControlPlane/RetryPolicy/commands``); on the last attempt the failure is
///   reported, and a command that cannot even report is dead-lettered — the gateway then fails its
///   operation. Commands only from the gateway (``DriverServiceConfiguration/authorizeSenders``).
/// - **queries** (`paz.driver.<name>.queries`: state polls, catalog, prechecks, probes, with their
///   own prefetch so that slow commands never hold them up): answered on their reply-to, then acked.
/// - A message that does not decode, or from a sender who may not send it (`unauthorized-sender`),
///   is dead-lettered with the reason headers and never run.
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
    /// The driver's query queue.
    package var queryQueueName: String { Routing.driverQueryQueue(driver: driver.name) }

    package func run() async throws {
        guard await prepareAMQPTopology(on: connection, logger: logger, declare: { _ throws(AMQPError) in
            try await declareTopology()
        }) else { return }
        let heartbeat = Task { await announceUntilCancelled(startedAt: Date()) }
        let ready: @Sendable () async -> Bool = { [connection, logger] in
            await prepareAMQPTopology(on: connection, logger: logger, declare: { _ throws(AMQPError) in })
        }
        let commands = MessageConsumer(
            CommandPayload.self, amqp: connection, ready: ready,
            settings: ConsumerSettings(
                queue: queueName, prefetch: UInt16(configuration.prefetch), concurrent: true, retry: .commands),
            logger: logger) { command in await handle(command) }
        let queries = MessageConsumer(
            CommandPayload.self, amqp: connection, ready: ready,
            settings: ConsumerSettings(
                queue: queryQueueName, prefetch: UInt16(configuration.queryPrefetch), concurrent: true, retry: .requests),
            logger: logger) { query in await handle(query) }
        await withDiscardingTaskGroup { group in
            group.addTask { await commands.run() }
            group.addTask { await queries.run() }
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

    /// Declares the shared topology, the driver's quorum command queue and its query queue.
    func declareTopology() async throws(AMQPError) {
        try await ControlPlaneTopology.declareShared(on: connection)
        try await ControlPlaneTopology.declareQueue(
            queueName, boundTo: Routing.commandsExchange, routingKey: Routing.commandRoutingKey(driver: driver.name),
            on: connection)
        try await ControlPlaneTopology.declareRequestQueue(
            queryQueueName, boundTo: Routing.commandsExchange, routingKey: Routing.queryRoutingKey(driver: driver.name),
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

    private func handle(_ message: Inbound<CommandPayload>) async -> HandlerOutcome {
        let envelope = message.envelope
        guard let tenant = envelope.tenantId else {
            return .deadLetter(reason: "invalid-field", detail: "tenantId is required on commands")
        }
        if configuration.authorizeSenders, let refusal = Self.refusal(of: envelope.payload, from: message.sender) {
            logger.warning("refused a command from a sender who may not send it", metadata: ["error": "\(refusal)"])
            return .deadLetter(reason: "unauthorized-sender", detail: refusal)
        }
        var logger = logger
        logger[metadataKey: "tenant"] = "\(tenant)"
        logger[metadataKey: "command"] = "\(envelope.kind.rawValue)"
        logger[metadataKey: "message"] = "\(envelope.messageId)"
        logger[metadataKey: "attempt"] = "\(message.attempt)"
        if let operation = envelope.operationId { logger[metadataKey: "operation"] = "\(operation)" }
        let request = CommandRequest(envelope: envelope, tenant: tenant, message: message, logger: logger)
        if Self.isQuery(envelope.payload) {
            return await answer(request)
        } else {
            return await perform(request)
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
    func publishEvent(_ event: EventEnvelope) async throws(PublishError) {
        try await ConfirmedPublisher(amqp: connection).publish(event: event)
    }
}

/// One decoded command and where it came from.
struct CommandRequest: Sendable {
    let envelope: CommandEnvelope
    let tenant: TenantID
    let message: Inbound<CommandPayload>
    let logger: Logger

    var delivery: AMQPDelivery { message.delivery }
}
