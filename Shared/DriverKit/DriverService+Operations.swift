import Foundation
import Logging
import PazAMQP
import PazSchemas

/// What a mutating step left behind.
enum StepOutcome: Sendable {
    case machine(MachineDetails)
    case removed(RemovalResult)
}

extension DriverService {
    /// Runs a mutating command machine by machine (journal → running → driver → outcome events), then
    /// acks it; requeues it on a retriable failure while deliveries remain.
    func perform(_ request: CommandRequest) async {
        let delivery = request.delivery
        let machines: [MachineRef]
        switch request.envelope.payload {
        case .machineCreate(let create): machines = [create.machine]
        case .machineRemove(let action), .machineStart(let action), .machineStop(let action),
             .machineRestart(let action), .machineKill(let action):
            machines = [action.machine]
        case .clusterRemove(let remove):
            machines = remove.machineIds.map { MachineRef(clusterId: remove.clusterId, machineId: $0) }
        default:
            machines = []
        }
        let attempt = (delivery.deliveryCount ?? 0) + 1
        let lastAttempt = attempt >= Routing.deliveryLimit
        do {
            if machines.isEmpty {
                let error = DriverError.unsupported(
                    operation: request.envelope.kind.rawValue, reason: "it is not a command for driver services")
                try await publishEvent(request.envelope.event(.operation(OperationProgress(
                    command: request.envelope.kind, phase: .failed, error: error.operationError))))
            }
            for machine in machines {
                try await perform(request, machine: machine, lastAttempt: lastAttempt)
            }
            await settle(delivery, logger: request.logger) { try await connection.ack(delivery) }
        } catch {
            // A retriable driver failure with deliveries left, or events that could not be published:
            // requeue; the journal makes the retry resume rather than repeat.
            request.logger.warning("command will be retried", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
            await settle(delivery, logger: request.logger) { try await connection.nack(delivery, requeue: true) }
        }
    }

    private func perform(_ request: CommandRequest, machine: MachineRef, lastAttempt: Bool) async throws {
        let kind = request.envelope.kind
        let journal = context(for: request).journal
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
            try await publishEvent(request.envelope.event(.machineState(MachineStateChanged(
                machine: machine, oldState: nil, newState: details.state, observedAt: details.observedAt, source: .operation))))
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
