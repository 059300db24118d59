import Foundation
import Logging
import PazAMQP
import PazControlPlane
import PazSchemas
import PazStore
import ServiceLifecycle

/// Ends the operations of dead commands: every command that reaches `paz.dead-letter` (its retries
/// ran out, the broker gave up after its delivery limit…) fails its
/// machines' progress in its operation with the reason and the last error, so the operation ends
/// as `failed` and `ops wait` and event streams return. Other dead letters (events, unreadable
/// messages, queries) are only logged; operators find them all in ``PazSchemas/Routing/deadLetterQueue``.
///
/// Anyone may publish to `paz.dead-letter`, so a dead command counts only from who may have
/// dead-lettered it (``GatewayConfiguration/authorizeDeadLetters``): RabbitMQ, which keeps the
/// gateway's `user-id`, or the driver of the machine.
struct DeadLetterConsumer: Service {
    let connections: ServiceConnections
    let authorizeSenders: Bool
    let logger: Logger

    func run() async throws {
        var logger = logger
        logger[metadataKey: "component"] = "dead-letters"
        let consumer = MessageConsumer(
            CommandPayload.self, connections: connections,
            settings: ConsumerSettings(
                queue: Routing.gatewayDeadLettersQueue, prefetch: 32, concurrent: false, retry: .storeWrites),
            logger: logger,
            undecodable: { [logger] delivery, _ in
                logger.warning("A message was dead-lettered", metadata: Self.metadata(delivery))
                return .done
            },
            handler: { [logger] command in await fail(command, logger: logger) })
        await consumer.run()
    }

    private func fail(_ command: Inbound<CommandPayload>, logger: Logger) async -> HandlerOutcome {
        let envelope = command.envelope
        logger.warning("A command was dead-lettered", metadata: Self.metadata(command.delivery).merging([
            "command": "\(envelope.kind.rawValue)", "operation": "\(envelope.operationId?.rawValue ?? "none")",
        ]) { $1 })
        guard let tenant = envelope.tenantId, let operation = envelope.operationId else { return .done }
        // A command its driver refused to run was never the gateway's: it must not fail a real operation.
        guard command.delivery.stringHeader(Routing.deadLetterReasonHeader) != "unauthorized-sender" else { return .done }
        let error = Self.error(of: command.delivery, kind: envelope.kind)
        let sender = command.delivery.properties.userID
        do {
            for machine in envelope.payload.machines {
                guard let record = try await connections.store.machine(machine.machineId, tenant: tenant) else { continue }
                if authorizeSenders, !Self.mayFail(sender: sender, driver: record.driver) {
                    logger.warning("Ignored a dead command from a sender who could not have dead-lettered it", metadata: [
                        "amqp.user-id": "\(sender ?? "(none)")", "driver": "\(record.driver)",
                        "operation": "\(operation)",
                    ])
                    continue
                }
                try await connections.store.recordProgress(
                    MachineProgress(machine: machine, phase: .failed, error: error), operation: operation, tenant: tenant)
            }
            return .done
        } catch where error.isRetriable {
            return .retry(reason: "store: \(error)")
        } catch {
            return .deadLetter(reason: "store-refused", detail: "\(error)")
        }
    }

    /// Whether `sender` (a dead letter's AMQP `user-id`) may have dead-lettered a command for a
    /// machine of `driver`: RabbitMQ keeps the gateway's id on what it dead-letters itself; the kit
    /// republishes as the consumer, the machine's driver.
    static func mayFail(sender: String?, driver: ResourceName) -> Bool {
        sender == ServiceKind.gateway.userName || sender == ServiceKind.driver(driver).userName
    }

    /// The failure recorded for a dead command: why it died and its last error.
    static func error(of delivery: AMQPDelivery, kind: MessageKind) -> OperationError {
        let reason = delivery.stringHeader(Routing.deadLetterReasonHeader)
            ?? delivery.stringHeader("x-first-death-reason").map { "rabbitmq-\($0)" } ?? "dead-lettered"
        let detail = delivery.stringHeader(Routing.deadLetterDetailHeader)
            ?? delivery.stringHeader(Routing.lastErrorHeader) ?? "no detail"
        let code: ErrorCode = switch reason {
        case "retries-exhausted", "deferrals-exhausted", "rabbitmq-delivery_limit": .providerUnavailable
        default: .internal
        }
        return OperationError(
            code: code, message: "\(kind.rawValue) was given up (\(reason)): \(detail)", retriable: code == .providerUnavailable,
            details: ["deadLetterReason": .string(reason)])
    }

    private static func metadata(_ delivery: AMQPDelivery) -> Logger.Metadata {
        [
            "dead-letter.reason": "\(delivery.stringHeader(Routing.deadLetterReasonHeader) ?? delivery.stringHeader("x-first-death-reason") ?? "unknown")",
            "dead-letter.queue": "\(delivery.stringHeader("x-first-death-queue") ?? delivery.routingKey)",
            "message.id": "\(delivery.properties.messageID ?? "none")",
        ]
    }
}
