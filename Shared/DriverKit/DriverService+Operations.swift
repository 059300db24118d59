import Foundation
import Logging
import PazAMQP
import PazControlPlane
import PazRedis
import PazSchemas
import PazStore

/// Why a command stopped holding its machine.
struct LeaseLost: Error, CustomStringConvertible {
    let reason: String
    var description: String { "lease lost: \(reason)" }
}

/// What a mutating step left behind.
enum StepOutcome: Sendable {
    case machine(MachineDetails)
    case removed(RemovalResult)
}

extension DriverService {
    /// Runs a mutating command machine by machine (journal → running → driver → outcome events).
    /// A retriable failure, or events that could not be published, are retried later (the journal
    /// makes a retry resume rather than repeat); on the last attempt a driver failure is reported
    /// as the outcome, and anything else is dead-lettered (the gateway then fails the operation).
    func perform(_ request: CommandRequest) async -> HandlerOutcome {
        let machines = request.envelope.payload.machines
        do {
            if machines.isEmpty {
                let error = DriverError.unsupported(
                    operation: request.envelope.kind.rawValue, reason: "it is not a command for driver services")
                try await publishEvent(request.envelope.event(.operation(OperationProgress(
                    command: request.envelope.kind, phase: .failed, error: error.operationError))))
            }
            for machine in machines {
                let ran = try await underLease(request, machine: machine) { journal in
                    try await perform(request, machine: machine, journal: journal, lastAttempt: request.message.isLastAttempt)
                }
                guard ran else {
                    request.logger.info("machine busy with another command; deferred", metadata: ["machine": "\(machine.machineId)"])
                    return .deferred(reason: "machine \(machine.machineId) is busy with another command")
                }
            }
            return .done
        } catch PublishError.broker(let error) where error.isRetriable {
            // RabbitMQ refused or lost the command's events (a quorum queue nacked for over 18 s
            // around node faults in CI): the broker's trouble, not the command's, so it spends no
            // attempt; the journal makes the next run report what this one did instead of redoing it.
            request.logger.warning("the command's events were not taken; trying again shortly", metadata: ["error": "\(error)"])
            return .deferred(reason: "RabbitMQ did not take the command's events: \(error)")
        } catch {
            request.logger.warning("command failed; it will be retried if attempts remain", metadata: ["error": "\(error)"])
            return .retry(reason: "\(error)")
        }
    }

    /// Runs `body` holding `machine`'s lease (its journal fenced by it), renewing the lease every
    /// third of its ttl; false, without running it, when another command still holds the lease after
    /// ``busyLeaseWait`` (a short command, such as the machine's own remove before a cluster's, is
    /// waited for here; a long one defers the command).
    ///
    /// `body` is cancelled — and the command ends as a retry — when the lease cannot be renewed
    /// (another command took over) or the connection that delivered the command was replaced (the
    /// broker will deliver it again, to this replica or another).
    func underLease(
        _ request: CommandRequest, machine: MachineRef, _ body: @escaping @Sendable (IntentJournal) async throws -> Void
    ) async throws -> Bool {
        let lease = MachineLease(
            redis: store.redis, tenant: request.tenant, machine: machine.machineId, ttl: configuration.leaseTTL)
        let token: MachineLease.Token
        do {
            guard let taken = try await acquire(lease) else { return false }
            token = taken
        } catch {
            throw DriverError.providerUnavailable("status store (Redis), taking the machine lease: \(error)")
        }
        let journal = context(for: request).journal.fenced(by: lease, token: token)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await body(journal) }
                group.addTask { try await keep(lease, token: token, for: request.delivery) }
                try await group.next()
                group.cancelAll()
            }
        } catch {
            try? await lease.release(token)
            throw error
        }
        try? await lease.release(token)
        return true
    }

    /// How long a command waits here for a machine's lease another command holds before it is deferred.
    static let busyLeaseWait = Duration.seconds(2)

    /// The lease, taken now or within ``busyLeaseWait`` (tried every 100 ms); nil when still held.
    private func acquire(_ lease: MachineLease) async throws(RedisError) -> MachineLease.Token? {
        let deadline = ContinuousClock.now + Self.busyLeaseWait
        while true {
            if let token = try await lease.acquire(owner: configuration.instanceId) { return token }
            guard ContinuousClock.now + .milliseconds(100) < deadline, !Task.isCancelled else { return nil }
            try? await Task.sleep(for: .milliseconds(100))
        }
    }

    /// Renews the lease until cancelled; throws ``LeaseLost`` when it is gone or the delivery's
    /// connection was replaced.
    private func keep(_ lease: MachineLease, token: MachineLease.Token, for delivery: AMQPDelivery) async throws {
        var renewed = ContinuousClock.now
        while true {
            try await Task.sleep(for: configuration.leaseTTL / 3)
            guard connection.epoch == delivery.epoch else {
                throw LeaseLost(reason: "the connection that delivered the command was replaced; it will be delivered again")
            }
            do {
                guard try await lease.renew(token) else { throw LeaseLost(reason: "the machine lease was taken over") }
                renewed = .now
            } catch let error as LeaseLost {
                throw error
            } catch {
                guard ContinuousClock.now - renewed < configuration.leaseTTL else {
                    throw LeaseLost(reason: "the machine lease could not be renewed in time: \(error)")
                }
            }
        }
    }

    private func perform(
        _ request: CommandRequest, machine: MachineRef, journal: IntentJournal, lastAttempt: Bool
    ) async throws {
        let kind = request.envelope.kind
        let step = IntentJournal.step(kind, operation: request.envelope.operationId)
        var logger = request.logger
        logger[metadataKey: "machine"] = "\(machine.machineId)"

        let outcome: StepOutcome
        if let entry = try await journal.entry(step, machine: machine.machineId), entry.status == .succeeded,
           let recorded = entry.details.map(StepOutcome.machine) {
            logger.info("command already done (journal); reporting its outcome again")
            outcome = recorded
        } else {
            try await journal.record(JournalEntry(status: .started), step: step, machine: machine.machineId)
            try await publishEvent(request.envelope.event(.operation(OperationProgress(
                command: kind, phase: .running,
                machines: [MachineProgress(machine: machine, phase: .running, step: "\(kind.rawValue) started")]))))
            do throws(DriverError) {
                outcome = try await run(request, machine: machine, logger: logger)
            } catch {
                // Cancelled (lease lost): the command's outcome is not this run's to report.
                try Task.checkCancellation()
                guard !error.isRetriable || lastAttempt else { throw error }
                logger.warning("command failed", metadata: ["error": "\(error)"])
                try await journal.record(
                    JournalEntry(status: .failed, error: error.operationError), step: step, machine: machine.machineId)
                try await publishEvent(request.envelope.event(.operation(OperationProgress(
                    command: kind, phase: .failed,
                    machines: [MachineProgress(machine: machine, phase: .failed, error: error.operationError)],
                    error: error.operationError))))
                return
            }
            switch outcome {
            case .machine(let details):
                try await journal.record(JournalEntry(status: .succeeded, details: details), step: step, machine: machine.machineId)
            case .removed:
                // The journal goes with the machine; a redelivered removal finds it gone and is harmless.
                try await journal.forget(machine: machine.machineId)
            }
            logger.info("command succeeded")
        }
        switch outcome {
        case .machine(let details):
            // The state event is the status fast path; the collector's next poll sees the state
            // anyway. A broker that refuses it (CI saw nacks for ~20 s while a RabbitMQ node was
            // gone) must not fail a command that did its work.
            do {
                try await publishEvent(request.envelope.event(.machineState(MachineStateChanged(
                    machine: machine, oldState: nil, newState: details.state, observedAt: details.observedAt, source: .operation))))
            } catch {
                logger.warning("could not publish the machine's new state; the status collector's next poll will see it",
                               metadata: ["error": "\(error)"])
            }
            try await publishEvent(request.envelope.event(.operation(OperationProgress(
                command: kind, phase: .succeeded,
                machines: [MachineProgress(machine: machine, phase: .succeeded, step: "\(kind.rawValue) done",
                                           state: details.state, details: details)]))))
        case .removed:
            try await publishEvent(request.envelope.event(.operation(OperationProgress(
                command: kind, phase: .succeeded,
                machines: [MachineProgress(machine: machine, phase: .succeeded, step: "\(kind.rawValue) done",
                                           state: .notFound)]))))
        }
    }

    private func run(_ request: CommandRequest, machine: MachineRef, logger: Logger) async throws(DriverError) -> StepOutcome {
        let context = context(for: request)
        switch request.envelope.payload {
        case .machineCreate(let create):
            return .machine(try await driver.create(create, context: context))
        case .machineRemove, .clusterRemove:
            return .removed(try await driver.remove(machine, context: context))
        case .machineStart:
            return .machine(try await driver.start(machine, context: context))
        case .machineStop(let action):
            return .machine(try await driver.stop(machine, timeout: action.timeoutSeconds.map { .seconds($0) }, context: context))
        case .machineRestart(let action):
            return .machine(try await driver.restart(machine, timeout: action.timeoutSeconds.map { .seconds($0) }, context: context))
        case .machineKill:
            return .machine(try await driver.kill(machine, context: context))
        default:
            throw .unsupported(operation: request.envelope.kind.rawValue, reason: "it is not a command for driver services")
        }
    }
}
