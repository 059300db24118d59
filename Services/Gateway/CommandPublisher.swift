import Foundation
import HTTPTypes
import Logging
import PazAMQP
import PazControlPlane
import PazSchemas
import PazStore

/// Publishes an operation's commands to `paz.commands` (routing key = driver name), persistent
/// and mandatory, all confirms in flight at once: a command no driver queue takes fails instead of
/// vanishing.
struct CommandPublisher: Sendable {
    let amqp: AMQPConnection
    let logger: Logger

    /// What became of a batch.
    enum Outcome {
        /// Every command was confirmed.
        case queued
        /// None was stored (refused before sending, returned or nacked): nothing was accepted.
        case refused(AMQPError)
        /// Some commands were not confirmed and may or may not be stored (a lost connection, a
        /// confirm timeout): the ones listed still need publishing.
        case unconfirmed([String], AMQPError)
    }

    /// The commands of one operation, encoded once (their message ids are fixed from here on).
    static func envelopes(
        _ payloads: [CommandPayload], tenant: TenantID, operation: OperationID, idempotencyKey: String?
    ) throws(GatewayProblem) -> [String] {
        let trace = TraceContext.newTrace()
        let key = idempotencyKey.flatMap { try? IdempotencyKey($0, field: "Idempotency-Key") }
        do {
            return try payloads.map { payload throws(SchemaError) in
                let envelope = CommandEnvelope(
                    tenantId: tenant, operationId: operation, idempotencyKey: key, trace: trace.child(), payload: payload)
                return String(decoding: try MessageCodec.encode(envelope), as: UTF8.self)
            }
        } catch {
            throw GatewayProblem(.internalServerError, "internal", "Internal error", detail: "\(error)")
        }
    }

    /// Publishes encoded commands for `driver`.
    func publish(_ commands: [String], driver: ResourceName, operation: OperationID) async -> Outcome {
        let messages = commands.map { command in
            let envelope = try? MessageCodec.decode(CommandPayload.self, from: Data(command.utf8))
            return OutgoingMessage(
                exchange: Routing.commandsExchange, routingKey: Routing.commandRoutingKey(driver: driver),
                body: Array(command.utf8),
                properties: AMQPProperties(
                    messageID: envelope?.messageId.rawValue, contentType: Routing.contentType, type: envelope?.kind.rawValue),
                mandatory: true)
        }
        let results = await ConfirmedPublisher(amqp: amqp).publishAll(messages)
        var pending: [String] = []
        var errors: [AMQPError] = []
        for (command, result) in zip(commands, results) {
            if case .failure(let error) = result {
                pending.append(command)
                errors.append(error)
            }
        }
        guard let first = errors.first else {
            logger.info("commands queued", metadata: [
                "operation": "\(operation)", "driver": "\(driver)", "count": "\(commands.count)",
            ])
            return .queued
        }
        logger.warning("commands not confirmed", metadata: [
            "operation": "\(operation)", "driver": "\(driver)", "unconfirmed": "\(pending.count)",
            "count": "\(commands.count)", "error": "\(first)",
        ])
        if pending.count == commands.count, errors.allSatisfy(\.leftMessageUnstored) { return .refused(first) }
        return .unconfirmed(pending, first)
    }
}
