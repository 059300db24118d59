import PazControlPlane
import Foundation
import Logging
import PazAMQP
import PazSchemas
import ServiceLifecycle
import Synchronization

/// Consumes the broker's request queue (``BrokerConfiguration/queue``, `paz.ssh-broker.rpc`) and
/// answers each request on its reply-to with its correlation id, then acks it (manual ack: a
/// replica that dies mid-request leaves it to another). Up to ``BrokerConfiguration/prefetch``
/// requests are handled at once.
///
/// - `ssh.host-identity`, `ssh.user-credentials`: issued by ``CertificateIssuer``; a request the
///   broker cannot satisfy gets `reply.failure` (not-found, invalid-argument, conflict, internal),
///   one its sender may not make (``BrokerConfiguration/authorizeSenders``) `permission-denied`.
/// - Any other command kind (one this build knows, or an unknown kind of schema 1.x with a readable
///   envelope and a reply-to): `reply.failure` with code `unsupported`.
/// - A message that does not decode (malformed JSON, another major version, a bad field, no
///   tenant, no reply-to): republished unchanged to `paz.dead-letter` with the
///   `x-paz-dead-letter-reason` / `-detail` headers (confirmed), then acked.
///
/// Graceful shutdown: stop consuming, finish and answer what is in flight, return (the connections
/// close after).
package struct BrokerConsumer: Service {
    private let connections: BrokerConnections
    private let issuer: CertificateIssuer
    private let queue: String
    private let prefetch: UInt16
    private let metrics: BrokerMetrics
    private let logger: Logger
    private let consuming: ConsumingFlag

    init(
        connections: BrokerConnections, issuer: CertificateIssuer, configuration: BrokerConfiguration,
        metrics: BrokerMetrics, logger: Logger
    ) {
        self.connections = connections
        self.issuer = issuer
        self.queue = configuration.queue
        self.prefetch = configuration.prefetch
        self.metrics = metrics
        var logger = logger
        logger[metadataKey: "component"] = "ssh-broker"
        logger[metadataKey: "amqp.queue"] = "\(configuration.queue)"
        self.logger = logger
        self.consuming = ConsumingFlag()
    }

    /// Whether the consumer is running (the `consumer` readiness check).
    package var isConsuming: Bool { consuming.value }

    package func run() async throws {
        guard let consumer = await startConsumer() else { return }
        consuming.value = true
        logger.info("Answering SSH broker requests", metadata: ["amqp.prefetch": "\(prefetch)"])
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await delivery in consumer {
                    group.addTask { await handle(delivery) }
                }
            }
        } onGracefulShutdown: {
            Task { await consumer.cancel() }
        }
        consuming.value = false
        logger.info("SSH broker consumer stopped")
    }

    /// Declares the topology and starts consuming, retrying while RabbitMQ is away; nil when
    /// graceful shutdown came first.
    private func startConsumer() async -> AMQPConsumer? {
        while await connections.prepareTopology() {
            do {
                return try await connections.amqp.consume(queue: queue, prefetch: prefetch)
            } catch {
                logger.warning("Could not start consuming SSH broker requests; retrying", metadata: ["error": "\(error)"])
                guard await sleepUnlessShuttingDown(.seconds(1)) else { return nil }
            }
        }
        return nil
    }

    // MARK: Deliveries

    private func handle(_ delivery: AMQPDelivery) async {
        let envelope: CommandEnvelope
        do {
            envelope = try MessageCodec.decode(CommandPayload.self, from: Data(delivery.body))
        } catch {
            if case .unknownKind = error, await answerUnknownKind(delivery, error: error) { return }
            await deadLetter(delivery, reason: error.reason, detail: error.description)
            return
        }
        guard let tenant = envelope.tenantId else {
            await deadLetter(delivery, reason: "invalid-field", detail: "tenantId is required on commands")
            return
        }
        guard let replyTo = delivery.properties.replyTo, !replyTo.isEmpty else {
            await deadLetter(
                delivery, reason: "missing-reply-to", detail: "\(envelope.kind.rawValue) is an RPC and needs a reply-to")
            return
        }
        var logger = logger
        logger[metadataKey: "tenant.id"] = "\(tenant.rawValue)"
        logger[metadataKey: "command"] = "\(envelope.kind.rawValue)"
        logger[metadataKey: "message.id"] = "\(envelope.messageId.rawValue)"
        logger[metadataKey: "trace.id"] = "\(envelope.trace.traceID)"
        switch envelope.payload {
        case .sshHostIdentity(let body): logger[metadataKey: "machine.id"] = "\(body.machine.machineId.rawValue)"
        case .sshUserCredentials(let body): logger[metadataKey: "machine.id"] = "\(body.machine.machineId.rawValue)"
        default: break
        }
        logger[metadataKey: "amqp.user-id"] = "\(delivery.properties.userID ?? "(none)")"
        let request = CertificateIssuer.Request(
            tenant: tenant, messageID: envelope.messageId, trace: envelope.trace, sender: delivery.properties.userID,
            logger: logger)

        let payload: ReplyPayload
        let outcome: BrokerMetrics.Outcome
        do throws(BrokerError) {
            switch envelope.payload {
            case .sshHostIdentity(let body):
                payload = .sshHostIdentity(try await issuer.hostIdentity(body, request: request))
                outcome = .issued
            case .sshUserCredentials(let body):
                payload = .sshUserCredentials(try await issuer.userCredentials(body, request: request))
                outcome = .issued
            default:
                payload = .failure(Self.unsupported(envelope.kind.rawValue))
                outcome = .unsupported
                logger.warning("Refused a command the SSH broker does not answer")
            }
        } catch {
            let failure = error.operationError
            payload = .failure(failure)
            outcome = failure.code == .permissionDenied ? .denied : .failed
            if case .senderNotAllowed = error {
                logger.warning("Refused a request its sender may not make", metadata: ["error": "\(error)"])
            } else if failure.code == .internal {
                logger.error("Could not issue SSH credentials", metadata: ["error": "\(error)"])
            } else {
                logger.info("Refused an SSH credentials request", metadata: [
                    "error": "\(error)", "error.code": "\(failure.code.rawValue)",
                ])
            }
        }
        metrics.request(command: Self.commandLabel(envelope.kind), outcome: outcome)
        await reply(envelope.reply(payload), to: replyTo, delivery: delivery, logger: logger)
        await ack(delivery, logger: logger)
    }

    /// Answers a command of a kind this build does not know (a newer minor's) with `unsupported`,
    /// when its envelope names a tenant and message id and it has a reply-to; false otherwise (the
    /// caller dead-letters it).
    private func answerUnknownKind(_ delivery: AMQPDelivery, error: SchemaError) async -> Bool {
        guard let replyTo = delivery.properties.replyTo, !replyTo.isEmpty,
              let object = try? JSONSerialization.jsonObject(with: Data(delivery.body)) as? [String: Any],
              let tenantText = object["tenantId"] as? String, let tenant = try? TenantID(tenantText),
              let messageText = object["messageId"] as? String, let messageID = try? MessageID(messageText)
        else { return false }
        let trace = (object["traceparent"] as? String).flatMap { TraceContext(traceparent: $0) } ?? .newTrace()
        let kind = (object["kind"] as? String).map { String($0.prefix(100)) } ?? "(none)"
        let reply = ReplyEnvelope(
            tenantId: tenant, inReplyTo: messageID, trace: trace.child(), payload: .failure(Self.unsupported(kind)))
        var logger = logger
        logger[metadataKey: "tenant.id"] = "\(tenant.rawValue)"
        logger[metadataKey: "message.id"] = "\(messageID.rawValue)"
        logger.warning("Refused a command of an unknown kind", metadata: ["command": "\(kind)", "error": "\(error)"])
        metrics.request(command: "other", outcome: .unsupported)
        await self.reply(reply, to: replyTo, delivery: delivery, logger: logger)
        await ack(delivery, logger: logger)
        return true
    }

    private static func unsupported(_ kind: String) -> OperationError {
        OperationError(
            code: .unsupported,
            message: "the SSH broker answers only ssh.host-identity and ssh.user-credentials, not \(kind)",
            retriable: false)
    }

    /// The `command` metric label: one of the broker's kinds, or `other` (bounded).
    private static func commandLabel(_ kind: MessageKind) -> String {
        switch kind {
        case .sshHostIdentity, .sshUserCredentials: kind.rawValue
        default: "other"
        }
    }

    /// Publishes the reply (transient, with the request's correlation id) to the default exchange.
    /// Not confirmed: the caller's timeout covers a lost reply, and a reply-to whose caller is gone
    /// is not retried.
    private func reply(_ envelope: ReplyEnvelope, to replyTo: String, delivery: AMQPDelivery, logger: Logger) async {
        do {
            let body = try MessageCodec.encode(envelope)
            try await connections.amqp.publishUnconfirmed(
                exchange: "", routingKey: replyTo, body: Array(body),
                properties: AMQPProperties(
                    messageID: envelope.messageId.rawValue,
                    correlationID: delivery.properties.correlationID ?? envelope.inReplyTo?.rawValue,
                    contentType: Routing.contentType, type: envelope.kind.rawValue, persistent: false))
        } catch {
            logger.warning("Could not send the reply", metadata: ["error": "\(error)"])
        }
    }

    /// Republishes the body unchanged to the dead-letter exchange with the reason headers, waits
    /// for the confirm, then acks. If the republish fails the delivery is rejected instead (the
    /// queue's own dead-lettering takes it), so a poison message never blocks the queue.
    private func deadLetter(_ delivery: AMQPDelivery, reason: String, detail: String) async {
        metrics.request(command: "other", outcome: .deadLettered)
        logger.warning("Dead-lettering an unreadable request", metadata: [
            "dead-letter.reason": "\(reason)", "error": "\(detail)",
            "message.id": "\(delivery.properties.messageID ?? "none")",
        ])
        var properties = delivery.properties
        properties.replyTo = nil
        properties.persistent = true
        properties.headers[Routing.deadLetterReasonHeader] = .string(reason)
        properties.headers[Routing.deadLetterDetailHeader] = .string(String(detail.prefix(1000)))
        do {
            try await connections.amqp.publish(
                exchange: Routing.deadLetterExchange, routingKey: queue, body: delivery.body, properties: properties)
        } catch {
            logger.error("Could not republish to the dead-letter exchange; rejecting", metadata: ["error": "\(error)"])
            try? await connections.amqp.reject(delivery, requeue: false)
            return
        }
        await ack(delivery, logger: logger)
    }

    private func ack(_ delivery: AMQPDelivery, logger: Logger) async {
        do {
            try await connections.amqp.ack(delivery)
        } catch {
            // A stale delivery (the connection was replaced) is redelivered and answered again.
            logger.warning("Could not ack a request; it will be redelivered", metadata: ["error": "\(error)"])
        }
    }
}

/// Whether the consumer runs; read by `/readyz`.
final class ConsumingFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    var value: Bool {
        get { flag.load(ordering: .relaxed) }
        set { flag.store(newValue, ordering: .relaxed) }
    }
}
