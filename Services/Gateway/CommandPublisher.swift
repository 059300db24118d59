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

    /// A command envelope as published: its JSON, and the id and kind its AMQP properties carry.
    struct EncodedCommand: Sendable {
        let json: String
        let messageId: String?
        let kind: String?

        /// A command kept as JSON (in the outbox): id and kind read back from it.
        init(stored json: String) {
            let envelope = try? MessageCodec.decode(CommandPayload.self, from: Data(json.utf8))
            self.init(json: json, messageId: envelope?.messageId.rawValue, kind: envelope?.kind.rawValue)
        }

        init(json: String, messageId: String?, kind: String?) {
            self.json = json
            self.messageId = messageId
            self.kind = kind
        }
    }

    /// The commands of one operation, encoded once (their message ids are fixed from here on).
    static func envelopes(
        _ payloads: [CommandPayload], tenant: TenantID, operation: OperationID, idempotencyKey: String?
    ) throws(GatewayProblem) -> [EncodedCommand] {
        let trace = TraceContext.newTrace()
        let key = idempotencyKey.flatMap { try? IdempotencyKey($0, field: "Idempotency-Key") }
        do {
            return try payloads.map { payload throws(SchemaError) in
                let envelope = CommandEnvelope(
                    tenantId: tenant, operationId: operation, idempotencyKey: key, trace: trace.child(), payload: payload)
                return EncodedCommand(
                    json: String(decoding: try MessageCodec.encode(envelope), as: UTF8.self),
                    messageId: envelope.messageId.rawValue, kind: envelope.kind.rawValue)
            }
        } catch {
            throw GatewayProblem(.internalServerError, "internal", "Internal error", detail: "\(error)")
        }
    }

    /// Publishes encoded commands for `driver`.
    func publish(_ commands: [EncodedCommand], driver: ResourceName, operation: OperationID) async -> Outcome {
        let messages = commands.map { command in
            OutgoingMessage(
                exchange: Routing.commandsExchange, routingKey: Routing.commandRoutingKey(driver: driver),
                body: Array(command.json.utf8),
                properties: AMQPProperties(messageID: command.messageId, contentType: Routing.contentType, type: command.kind),
                mandatory: true)
        }
        let results = await ConfirmedPublisher(amqp: amqp).publishAll(messages)
        var pending: [String] = []
        var errors: [AMQPError] = []
        for (command, result) in zip(commands, results) {
            if case .failure(let error) = result {
                pending.append(command.json)
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
