import PazControlPlane
import Foundation
import Logging
import PazAMQP
import PazSchemas
import ServiceLifecycle
import Synchronization

/// Consumes the broker's request queue (``BrokerConfiguration/queue``, `paz.ssh-broker.rpc`) and
/// answers each request on its reply-to with its correlation id, then acks it (manual ack: a
/// replica that dies mid-request leaves it to another), through the control plane's
/// ``PazControlPlane/MessageConsumer``. Up to ``BrokerConfiguration/prefetch`` requests are handled at once.
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
    private let settings: ConsumerSettings
    private let metrics: BrokerMetrics
    private let logger: Logger
    private let consuming: ConsumingFlag

    init(
        connections: BrokerConnections, issuer: CertificateIssuer, configuration: BrokerConfiguration,
        metrics: BrokerMetrics, logger: Logger
    ) {
        self.connections = connections
        self.issuer = issuer
        self.settings = ConsumerSettings(
            queue: configuration.queue, prefetch: configuration.prefetch, concurrent: true, retry: .requests)
        self.metrics = metrics
        var logger = logger
        logger[metadataKey: "component"] = "ssh-broker"
        self.logger = logger
        self.consuming = ConsumingFlag()
    }

    /// Whether the consumer is running (the `consumer` readiness check).
    package var isConsuming: Bool { consuming.value }

    package func run() async throws {
        let consumer = MessageConsumer(
            CommandPayload.self, connections: connections, settings: settings, logger: logger,
            observe: { [metrics] settlement in
                if case .deadLetter = settlement { metrics.request(command: "other", outcome: .deadLettered) }
            },
            undecodable: { delivery, error in
                guard case .unknownKind = error else { return nil }
                return await answerUnknownKind(delivery, error: error)
            },
            handler: { request in await handle(request) })
        await consumer.run { consuming.value = true }
        consuming.value = false
    }

    // MARK: Requests

    private var responder: RPCResponder { RPCResponder(amqp: connections.amqp) }

    private func handle(_ request: Inbound<CommandPayload>) async -> HandlerOutcome {
        let envelope = request.envelope
        let delivery = request.delivery
        guard let tenant = envelope.tenantId else {
            return .deadLetter(reason: "invalid-field", detail: "tenantId is required on commands")
        }
        guard let replyTo = delivery.properties.replyTo, !replyTo.isEmpty else {
            return .deadLetter(
                reason: "missing-reply-to", detail: "\(envelope.kind.rawValue) is an RPC and needs a reply-to")
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
        logger[metadataKey: "amqp.user-id"] = "\(request.sender ?? "(none)")"
        let issuing = CertificateIssuer.Request(
            tenant: tenant, messageID: envelope.messageId, trace: envelope.trace, sender: request.sender,
            logger: logger)

        let payload: ReplyPayload
        let outcome: BrokerMetrics.Outcome
        do throws(BrokerError) {
            switch envelope.payload {
            case .sshHostIdentity(let body):
                payload = .sshHostIdentity(try await issuer.hostIdentity(body, request: issuing))
                outcome = .issued
            case .sshUserCredentials(let body):
                payload = .sshUserCredentials(try await issuer.userCredentials(body, request: issuing))
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
        return await responder.answer(delivery, kind: envelope.kind, with: envelope.reply(payload))
    }

    /// Answers a command of a kind this build does not know (a newer minor's) with `unsupported`,
    /// when its envelope names a tenant and message id and it has a reply-to; nil otherwise (it is
    /// dead-lettered).
    private func answerUnknownKind(_ delivery: AMQPDelivery, error: SchemaError) async -> HandlerOutcome? {
        guard let replyTo = delivery.properties.replyTo, !replyTo.isEmpty,
              let object = try? JSONSerialization.jsonObject(with: Data(delivery.body)) as? [String: Any],
              let tenantText = object["tenantId"] as? String, let tenant = try? TenantID(tenantText),
              let messageText = object["messageId"] as? String, let messageID = try? MessageID(messageText)
        else { return nil }
        let trace = (object["traceparent"] as? String).flatMap { TraceContext(traceparent: $0) } ?? .newTrace()
        let kind = (object["kind"] as? String).map { String($0.prefix(100)) } ?? "(none)"
        let reply = ReplyEnvelope(
            tenantId: tenant, inReplyTo: messageID, trace: trace.child(), payload: .failure(Self.unsupported(kind)))
        var logger = logger
        logger[metadataKey: "tenant.id"] = "\(tenant.rawValue)"
        logger[metadataKey: "message.id"] = "\(messageID.rawValue)"
        logger.warning("Refused a command of an unknown kind", metadata: ["command": "\(kind)", "error": "\(error)"])
        metrics.request(command: "other", outcome: .unsupported)
        return await responder.answer(delivery, kind: .replyFailure, with: reply)
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
}

/// Whether the consumer runs; read by `/readyz`.
final class ConsumingFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    var value: Bool {
        get { flag.load(ordering: .relaxed) }
        set { flag.store(newValue, ordering: .relaxed) }
    }
}
