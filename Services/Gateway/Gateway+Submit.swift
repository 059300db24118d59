import Foundation
import HTTPTypes
import Logging
import PazAMQP
import PazGatewayAPI
import PazSchemas
import PazSecrets
import PazStore

/// One mutating request, ready to be accepted.
struct Submission {
    var tenant: TenantID
    var kind: String
    var target: OperationTarget
    var machines: [MachineRef]
    /// The machines' names (kept with the operation, which may outlive them).
    var machineNames: [MachineID: ResourceName]
    var driver: ResourceName
    var commands: [CommandPayload]
    /// The client's `Idempotency-Key`, if any.
    var idempotencyKey: String?
    /// Method, path and canonical body, hashed to tell a replay from a different request (empty
    /// without an Idempotency-Key: nothing to compare).
    var request: String
}

extension Gateway {
    /// The common path of every mutating call: claim the Idempotency-Key (replay or 422 on mismatch)
    /// and record the operation with what it makes (`recording`, in the same script), or record it
    /// and then run `prepare`; publish the commands with confirms, and only then
    /// answer 202. When RabbitMQ certainly stored none of them (refused, returned, nacked) the
    /// records are undone (`undo`), the key released, the operation marked failed, and the answer is
    /// 503: nothing was accepted. When some outcomes are unknown (a confirm timed out, the connection
    /// went), the operation stands and its unconfirmed commands go to the outbox (``OutboxRelay``).
    /// While RabbitMQ is known down or blocked (its breaker open, its connection reconnecting) the
    /// 503 comes at once, before any record.
    func submit(
        _ submission: Submission,
        recording: OperationRecording? = nil,
        prepare: () async throws(StoreError) -> Void = {},
        undo: () async throws(StoreError) -> Void = {}
    ) async throws -> Components.Responses.OperationAccepted {
        let tenant = submission.tenant
        let broker = breakers.rabbitmq
        let ticket = try await admitToBroker()
        var settled = false
        defer { if !settled { broker.release(ticket) } }
        let operationId = OperationID.random()
        let record = OperationRecord(
            id: operationId, kind: submission.kind, target: submission.target, machines: submission.machines,
            machineNames: Dictionary(
                submission.machineNames.map { ($0.key.rawValue, $0.value.rawValue) }, uniquingKeysWith: { first, _ in first }),
            idempotencyKey: submission.idempotencyKey)
        // The operation and its Idempotency-Key in one script, before the records it makes: a second
        // request with the key finds it claimed and gets the replay, never a second operation.
        let hash = submission.idempotencyKey == nil ? "" : APIToken.hash(submission.request)
        let existing = try await stored { () async throws(StoreError) in
            try await store.acceptOperation(
                record, tenant: tenant, idempotencyKey: submission.idempotencyKey, requestHash: hash, recording: recording)
        }
        if let existing { return try await replay(existing, hash: hash, tenant: tenant) }
        do {
            try await prepare()
        } catch {
            try? await store.withdrawOperation(operationId, tenant: tenant, idempotencyKey: submission.idempotencyKey)
            throw GatewayProblem.from(error)
        }
        let commands = try CommandPublisher.envelopes(
            submission.commands, tenant: tenant, operation: operationId, idempotencyKey: submission.idempotencyKey)
        let outcome = await CommandPublisher(amqp: amqp, logger: logger).publish(
            commands, driver: submission.driver, operation: operationId)
        settled = true
        switch outcome {
        case .queued:
            broker.succeeded()
        case .refused(let error):
            let problem = GatewayProblem.from(error, driver: submission.driver.rawValue)
            if problem.dependency == .rabbitmq { broker.failed(reason: problem.cause ?? problem.detail) } else { broker.succeeded() }
            try? await store.failOperation(
                operationId,
                error: OperationError(code: .providerUnavailable, message: problem.detail, retriable: true),
                tenant: tenant)
            try? await undo()
            await release(submission)
            throw problem
        case .unconfirmed(let pending, let publishError):
            broker.failed(reason: "\(publishError)")
            // They may be stored already: the operation stands, and the outbox relay publishes them
            // again until RabbitMQ confirms (a command delivered twice is run once: journal and lease).
            do {
                try await store.putOutbox(
                    OutboxEntry(tenant: tenant, operation: operationId, driver: submission.driver, commands: pending),
                    dueIn: OutboxRelay.firstDelay)
            } catch {
                logger.error("commands of an accepted operation could not be kept for a retry", metadata: [
                    "operation": "\(operationId)", "error": "\(error)", "publish.error": "\(publishError)",
                ])
                throw GatewayProblem.from(error)
            }
            logger.warning("commands kept in the outbox until RabbitMQ confirms them", metadata: [
                "operation": "\(operationId)", "commands": "\(pending.count)", "error": "\(publishError)",
            ])
        }
        let view = OperationView(queued: record)
        return try await accepted(view, replayed: false)
    }

    /// Lets a submission use RabbitMQ, or answers 503 at once: while the broker's breaker is open, and
    /// when the connection reports the broker down (reconnecting) or blocked (a resource alarm), which
    /// also opens the breaker. Only the very first connection (at start-up) is waited for, 2 s at most.
    private func admitToBroker() async throws(GatewayProblem) -> DependencyBreaker.Ticket {
        let broker = breakers.rabbitmq
        let ticket = try broker.admit()
        if let reason = amqp.blockedReason {
            broker.trip(reason: "publishing blocked: \(reason)")
            throw broker.unavailableNow("the message broker (RabbitMQ) blocks publishing (a resource alarm)")
        }
        switch amqp.state {
        case .connected:
            return ticket
        case .reconnecting(let reason):
            broker.trip(reason: reason)
            throw broker.unavailableNow("the message broker (RabbitMQ) is unreachable (reconnecting)")
        case .closed:
            broker.release(ticket)
            throw GatewayProblem.dependencyUnavailable("the message broker (RabbitMQ) connection is closed (shutting down)")
        case .connecting:
            do {
                try await amqp.waitUntilConnected(timeout: .seconds(2))
                return ticket
            } catch {
                broker.failed(reason: "\(error)")
                throw GatewayProblem.dependencyUnavailable("the message broker (RabbitMQ) is unreachable")
            }
        }
    }

    /// The earlier answer for a known `Idempotency-Key` (nil when the key is unused), checked before
    /// validation so a repeated create is not refused because its own first call took the name.
    func replay(key: String?, request: String, tenant: TenantID) async throws -> Components.Responses.OperationAccepted? {
        guard let key else { return nil }
        guard let existing = try await stored({ () async throws(StoreError) in
            try await store.idempotencyRecord(key, in: .tenant(tenant)) as IdempotencyRecord?
        }) else { return nil }
        return try await replay(existing, hash: APIToken.hash(request), tenant: tenant)
    }

    private func replay(_ existing: IdempotencyRecord, hash: String, tenant: TenantID) async throws
        -> Components.Responses.OperationAccepted
    {
        guard existing.requestHash == hash else {
            throw GatewayProblem.idempotencyKeyMismatch
        }
        guard let view = try await stored({ () async throws(StoreError) in
            try await store.operation(existing.operationId, tenant: tenant)
        }) else {
            throw GatewayProblem(
                .conflict, "idempotency-key-in-use", "Idempotency-Key in use",
                detail: "the first request with this key is still being processed; retry shortly", retryAfter: 1)
        }
        return try await accepted(view, replayed: true)
    }

    private func release(_ submission: Submission) async {
        guard let key = submission.idempotencyKey else { return }
        try? await store.releaseIdempotencyKey(key, in: .tenant(submission.tenant))
    }

    /// `METHOD path canonical-json-body`, the text an Idempotency-Key is bound to; empty when the
    /// request has no key (the body is then not encoded a second time).
    static func requestText(_ method: String, _ path: String, _ body: some Encodable, key: String?) -> String {
        guard key != nil else { return "" }
        let json = (try? JSONEncoder.gateway.encode(body)).map { String(decoding: $0, as: UTF8.self) } ?? ""
        return "\(method) \(path) \(json)"
    }
}
