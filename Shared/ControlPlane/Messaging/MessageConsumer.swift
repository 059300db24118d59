import Foundation
package import Logging
package import PazAMQP
package import PazSchemas
import ServiceLifecycle

/// How a ``MessageConsumer`` consumes its queue.
package struct ConsumerSettings: Sendable {
    /// The queue.
    package var queue: String
    /// Unacknowledged deliveries at most.
    package var prefetch: UInt16
    /// Handle up to `prefetch` deliveries at once (commands, RPCs), or one after another in
    /// order (events whose order matters).
    package var concurrent: Bool
    /// What a `.retry` or `.deferred` outcome leads to.
    package var retry: RetryPolicy

    package init(queue: String, prefetch: UInt16, concurrent: Bool, retry: RetryPolicy) {
        self.queue = queue
        self.prefetch = prefetch
        self.concurrent = concurrent
        self.retry = retry
    }
}

/// The one consume loop of the control plane: decode → handle → settle, the same in every service.
///
/// - A delivery that does not decode is dead-lettered with the ``PazSchemas/SchemaError/reason``
///   (unless `undecodable` handles it, e.g. to answer an RPC of an unknown kind).
/// - The handler's ``HandlerOutcome`` becomes a ``Settlement`` by the ``RetryPolicy``: ack; a
///   delayed retry (republished, confirmed, to a retry queue, then acked); or a dead letter
///   (republished, confirmed, to `paz.dead-letter` with reason headers, then acked).
/// - When a republish fails the delivery is left to the broker: rejected to the queue's own
///   dead-lettering when RabbitMQ refused it, redelivered after a reconnect when the connection went.
///
/// It waits for its connection and topology (`ready`), keeps consuming across
/// reconnects, and on graceful shutdown stops consuming and finishes the deliveries in hand.
package struct MessageConsumer<Payload: MessagePayload>: Sendable {
    /// What a consumer reports about each delivery (metrics).
    package typealias Observer = @Sendable (_ settlement: Settlement) -> Void
    /// Decides about a delivery that did not decode; nil dead-letters it.
    package typealias UndecodableHandler = @Sendable (_ delivery: AMQPDelivery, _ error: SchemaError) async -> HandlerOutcome?

    private let amqp: AMQPConnection
    private let ready: @Sendable () async -> Bool
    private let settings: ConsumerSettings
    private let logger: Logger
    private let observe: Observer
    private let undecodable: UndecodableHandler
    private let handler: @Sendable (Inbound<Payload>) async -> HandlerOutcome

    /// A consumer of `settings.queue` on `amqp`; `ready` waits until the connection is up and the
    /// topology declared (false: shutting down), as ``ServiceConnections/prepareTopology()`` does.
    package init(
        _ payload: Payload.Type, amqp: AMQPConnection, ready: @escaping @Sendable () async -> Bool,
        settings: ConsumerSettings, logger: Logger,
        observe: @escaping Observer = { _ in }, undecodable: @escaping UndecodableHandler = { _, _ in nil },
        handler: @escaping @Sendable (Inbound<Payload>) async -> HandlerOutcome
    ) {
        self.amqp = amqp
        self.ready = ready
        self.settings = settings
        var logger = logger
        logger[metadataKey: "amqp.queue"] = "\(settings.queue)"
        self.logger = logger
        self.observe = observe
        self.undecodable = undecodable
        self.handler = handler
    }

    /// A consumer whose connection and topology ``ServiceConnections`` owns.
    package init(
        _ payload: Payload.Type, connections: ServiceConnections, settings: ConsumerSettings, logger: Logger,
        observe: @escaping Observer = { _ in }, undecodable: @escaping UndecodableHandler = { _, _ in nil },
        handler: @escaping @Sendable (Inbound<Payload>) async -> HandlerOutcome
    ) {
        self.init(
            payload, amqp: connections.amqp, ready: { await connections.prepareTopology() }, settings: settings,
            logger: logger, observe: observe, undecodable: undecodable, handler: handler)
    }

    private var publisher: ConfirmedPublisher { ConfirmedPublisher(amqp: amqp) }

    /// Consumes until graceful shutdown or cancellation; `started` runs once consuming has begun.
    package func run(started: @Sendable () -> Void = {}) async {
        guard let consumer = await startConsuming() else { return }
        started()
        logger.info("Consuming", metadata: ["amqp.prefetch": "\(settings.prefetch)", "concurrent": "\(settings.concurrent)"])
        await withGracefulShutdownHandler {
            if settings.concurrent {
                await withDiscardingTaskGroup { group in
                    for await delivery in consumer {
                        group.addTask { await handle(delivery) }
                    }
                }
            } else {
                for await delivery in consumer {
                    await handle(delivery)
                }
            }
        } onGracefulShutdown: {
            Task { await consumer.cancel() }
        }
        logger.info("Stopped consuming")
    }

    /// Declares the topology and starts consuming, retrying while RabbitMQ is away; nil when
    /// graceful shutdown or cancellation came first.
    private func startConsuming() async -> AMQPConsumer? {
        while await ready() {
            do {
                return try await amqp.consume(queue: settings.queue, prefetch: settings.prefetch)
            } catch {
                logger.warning("Could not start consuming; retrying", metadata: ["error": "\(error)"])
                guard await sleepUnlessShuttingDown(.seconds(1)) else { return nil }
            }
        }
        return nil
    }

    /// Decodes, handles and settles one delivery.
    package func handle(_ delivery: AMQPDelivery) async {
        let failedAttempts = delivery.intHeader(Routing.failedAttemptsHeader)
        let deferrals = delivery.intHeader(Routing.deferralsHeader)
        let attempt = RetryPolicy.attempt(failedAttempts: failedAttempts, deliveryCount: delivery.deliveryCount)
        let sender = delivery.originalSender(ownUser: amqp.configuration.user)
        let outcome: HandlerOutcome
        do {
            let envelope = try MessageCodec.decode(Payload.self, from: delivery.body)
            outcome = await handler(Inbound(
                envelope: envelope, delivery: delivery, attempt: attempt, isLastAttempt: attempt >= settings.retry.maxAttempts,
                deferrals: deferrals, sender: sender, lastError: delivery.stringHeader(Routing.lastErrorHeader)))
        } catch {
            outcome = await undecodable(delivery, error) ?? .deadLetter(reason: error.reason, detail: error.description)
        }
        let settlement = settings.retry.settlement(for: outcome, attempt: attempt, deferrals: deferrals)
        observe(settlement)
        await settle(delivery, settlement, sender: sender)
    }

    private func settle(_ delivery: AMQPDelivery, _ settlement: Settlement, sender: String?) async {
        guard delivery.epoch == amqp.epoch else {
            // Its connection is gone: the broker delivers it again, so a retry or dead letter
            // published now would be a second copy.
            logger.info("The connection of a delivery was replaced; the broker will redeliver it", metadata: [
                "message.id": "\(delivery.properties.messageID ?? "none")",
            ])
            return
        }
        switch settlement {
        case .ack:
            break
        case .retry(let tier, let failedAttempts, let deferrals, let lastError):
            logger.info("Retrying a message later", metadata: [
                "retry.in": "\(tier.delay)", "attempts.failed": "\(failedAttempts)", "deferrals": "\(deferrals)",
                "error": "\(lastError)", "message.id": "\(delivery.properties.messageID ?? "none")",
            ])
            do {
                try await publisher.retry(
                    delivery, to: settings.queue, tier: tier, failedAttempts: failedAttempts, deferrals: deferrals,
                    lastError: lastError, originalSender: sender)
            } catch {
                await leaveToBroker(delivery, after: error, what: "schedule a retry")
                return
            }
        case .deadLetter(let reason, let detail):
            logger.warning("Dead-lettering a message", metadata: [
                "dead-letter.reason": "\(reason)", "error": "\(detail)",
                "message.id": "\(delivery.properties.messageID ?? "none")",
            ])
            do {
                try await publisher.deadLetter(delivery, from: settings.queue, reason: reason, detail: detail)
            } catch {
                await leaveToBroker(delivery, after: error, what: "dead-letter")
                return
            }
        }
        // Not waited for: a failed ack (the connection was replaced) means a redelivery, and
        // handlers are idempotent.
        amqp.acknowledge(delivery)
    }

    /// A republish failed. On a live connection the delivery is rejected after a pause — requeued
    /// (a redelivery counts as an attempt) when RabbitMQ may take it later, to the queue's own
    /// dead-lettering otherwise; on a lost connection the broker redelivers it anyway.
    private func leaveToBroker(_ delivery: AMQPDelivery, after error: AMQPError, what: String) async {
        logger.error("Could not \(what); leaving the message to the broker", metadata: ["error": "\(error)"])
        guard delivery.epoch == amqp.epoch else { return }
        try? await Task.sleep(for: .seconds(1))
        try? await amqp.reject(delivery, requeue: error.isRetriable)
    }
}
