import Foundation
import Logging
import PazControlPlane
import PazAMQP
import PazSchemas
import PazStore

/// Writes observed states to Redis (compare-and-set on `observedAt`) and, for the poller, publishes
/// `event.machine.state` for every write that changed a machine's state.
struct StateRecorder: Sendable {
    let amqp: AMQPConnection
    let store: Store
    let metrics: CollectorMetrics
    let logger: Logger

    /// Writes `record` for `machine`; returns what the store did.
    func write(_ record: StateRecord, machine: MachineRef, tenant: TenantID) async throws(StoreError) -> StateWrite {
        let result = try await store.writeState(record, machine: machine.machineId, tenant: tenant)
        if case .written(let previous) = result {
            metrics.stateWritten(source: record.source, changed: previous != record.state)
        }
        return result
    }

    /// Writes a polled state and publishes the change, if any, to `paz.events` with a confirm.
    /// Errors are logged: one machine's failure must not stop the others of its batch.
    func recordPolled(_ record: StateRecord, machine: MachineRef, tenant: TenantID, trace: TraceContext) async {
        let result: StateWrite
        do {
            result = try await write(record, machine: machine, tenant: tenant)
        } catch {
            logger.error(
                "Could not write a machine state",
                metadata: metadata(machine, tenant).merging(["error": "\(error)"]) { $1 })
            return
        }
        guard case .written(let previous) = result, previous != record.state else { return }
        let change = MachineStateChanged(
            machine: machine, oldState: previous, newState: record.state, observedAt: record.observedAt,
            source: record.source)
        let event = EventEnvelope(tenantId: tenant, trace: trace.child(), payload: .machineState(change))
        await publish(event, machine: machine)
        logger.info(
            "Machine state changed",
            metadata: metadata(machine, tenant).merging([
                "state.old": "\(previous?.rawValue ?? "none")", "state.new": "\(record.state.rawValue)",
                "state.source": "\(record.source.rawValue)",
            ]) { $1 })
    }

    /// Publishes with a confirm; retries a few times while the broker is briefly away. The state is
    /// already in Redis, so a lost event delays only the listeners, never the status.
    private func publish(_ event: EventEnvelope, machine: MachineRef) async {
        let publisher = ConfirmedPublisher(amqp: amqp)
        var delay = Duration.milliseconds(200)
        for attempt in 1...Self.publishAttempts {
            do throws(PublishError) {
                try await publisher.publish(event: event)
                return
            } catch {
                guard case .broker(let cause) = error, cause.isRetriable, attempt < Self.publishAttempts else {
                    logger.error(
                        "Could not publish a state event; the state is in Redis but listeners miss this change",
                        metadata: [
                            "error": "\(error)", "machine.id": "\(machine.machineId.rawValue)",
                            "message.id": "\(event.messageId.rawValue)",
                        ])
                    return
                }
                try? await Task.sleep(for: delay)
                delay *= 2
            }
        }
    }

    private static let publishAttempts = 4

    private func metadata(_ machine: MachineRef, _ tenant: TenantID) -> Logger.Metadata {
        [
            "tenant.id": "\(tenant.rawValue)", "cluster.id": "\(machine.clusterId.rawValue)",
            "machine.id": "\(machine.machineId.rawValue)",
        ]
    }
}
