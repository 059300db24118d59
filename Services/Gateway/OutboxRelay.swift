import Foundation
import Logging
import PazAMQP
import PazControlPlane
import PazSchemas
import PazStore
import ServiceLifecycle

/// Publishes the commands the gateway accepted but RabbitMQ did not confirm (``OutboxEntry``):
/// every second it takes the entries that are due, publishes their commands again (same message
/// ids: a command that was stored after all is run once, by the driver's journal and lease), drops
/// what is confirmed, and tries the rest later with a growing delay. After ``giveUpAfter`` it stops:
/// the machines of the commands still unconfirmed are recorded `failed`, so the operation ends.
struct OutboxRelay: Service {
    let connections: ServiceConnections
    let logger: Logger

    /// When an entry is first due.
    static let firstDelay = Duration.seconds(2)
    /// How long the relay keeps trying.
    static let giveUpAfter: TimeInterval = 15 * 60
    /// Entries handled per round.
    static let batch = 100

    func run() async throws {
        var logger = logger
        logger[metadataKey: "component"] = "outbox-relay"
        while await sleepUnlessShuttingDown(.seconds(1)) {
            await round(logger: logger)
        }
    }

    /// One round over the entries that are due.
    func round(logger: Logger) async {
        let store = connections.store
        let entries: [OutboxEntry]
        do {
            entries = try await store.dueOutbox(limit: Self.batch)
        } catch {
            return  // Redis is away: the next round tries again
        }
        for var entry in entries {
            let publisher = CommandPublisher(amqp: connections.amqp, logger: logger)
            let outcome = await publisher.publish(
                entry.commands.map(CommandPublisher.EncodedCommand.init(stored:)), driver: entry.driver, operation: entry.operation)
            do {
                switch outcome {
                case .queued:
                    try await store.removeOutbox(tenant: entry.tenant, operation: entry.operation)
                    logger.info("outbox commands queued", metadata: ["operation": "\(entry.operation)"])
                case .refused(let error), .unconfirmed(_, let error):
                    if case .unconfirmed(let pending, _) = outcome { entry.commands = pending }
                    if Date().timeIntervalSince(entry.createdAt) > Self.giveUpAfter {
                        try await giveUp(entry, error: error, logger: logger)
                    } else {
                        entry.attempts += 1
                        try await store.putOutbox(entry, dueIn: .seconds(min(60, 1 << min(entry.attempts, 6))))
                    }
                }
            } catch {
                logger.warning("outbox entry not updated; it stays due", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Records every machine of the unconfirmed commands as failed and forgets the entry.
    private func giveUp(_ entry: OutboxEntry, error: AMQPError, logger: Logger) async throws(StoreError) {
        let failure = OperationError(
            code: .providerUnavailable,
            message: "the command could not be queued to driver \(entry.driver) for \(Int(Self.giveUpAfter / 60)) minutes: \(error)",
            retriable: true)
        for command in entry.commands {
            guard let envelope = try? MessageCodec.decode(CommandPayload.self, from: Data(command.utf8)) else { continue }
            for machine in envelope.payload.machines {
                try await connections.store.recordProgress(
                    MachineProgress(machine: machine, phase: .failed, error: failure), operation: entry.operation,
                    tenant: entry.tenant)
            }
        }
        try await connections.store.removeOutbox(tenant: entry.tenant, operation: entry.operation)
        logger.error("outbox commands given up", metadata: ["operation": "\(entry.operation)", "error": "\(error)"])
    }
}
