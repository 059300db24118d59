import Foundation
import HTTPTypes
import Logging
import PazAMQP
import PazSchemas
import PazStore

/// Publishes commands to `paz.commands` (routing key = driver name), persistent and mandatory, and
/// waits for the broker's confirm: a command no driver queue takes fails instead of vanishing.
struct CommandPublisher: Sendable {
    let amqp: AMQPConnection
    let logger: Logger

    /// Publishes every payload under one operation; throws a 503 problem when any is not confirmed.
    func publish(
        _ payloads: [CommandPayload], driver: ResourceName, tenant: TenantID, operation: OperationID,
        idempotencyKey: String?
    ) async throws(GatewayProblem) {
        let trace = TraceContext.newTrace()
        let key = idempotencyKey.flatMap { try? IdempotencyKey($0, field: "Idempotency-Key") }
        for payload in payloads {
            let envelope = CommandEnvelope(
                tenantId: tenant, operationId: operation, idempotencyKey: key, trace: trace.child(), payload: payload)
            let body: Data
            do {
                body = try MessageCodec.encode(envelope)
            } catch {
                throw GatewayProblem(.internalServerError, "internal", "Internal error", detail: "\(error)")
            }
            do {
                try await amqp.publish(
                    exchange: Routing.commandsExchange, routingKey: Routing.commandRoutingKey(driver: driver),
                    body: Array(body),
                    properties: AMQPProperties(
                        messageID: envelope.messageId.rawValue, contentType: Routing.contentType,
                        type: payload.kind.rawValue),
                    mandatory: true)
            } catch {
                logger.warning("command not queued", metadata: [
                    "operation": "\(operation)", "kind": "\(payload.kind.rawValue)", "driver": "\(driver)",
                    "error": "\(error)",
                ])
                throw GatewayProblem.from(error, driver: driver.rawValue)
            }
        }
        logger.info("commands queued", metadata: [
            "operation": "\(operation)", "driver": "\(driver)", "count": "\(payloads.count)",
        ])
    }
}
