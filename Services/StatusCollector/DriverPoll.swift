import Foundation
import Logging
import PazControlPlane
import PazAMQP
import PazSchemas
import PazStore

/// One batched poll: ONE `machine.states` request for every machine a tenant has on one driver,
/// then one compare-and-set write per machine.
struct DriverPoll: Sendable {
    let tenant: TenantID
    let driver: ResourceName
    let machines: [MachineRef]

    /// What came back, reduced to what the collector writes.
    enum Answer {
        /// The driver answered; observations of machines that were not asked about are dropped.
        case states([MachineRef: MachineStateObservation])
        /// No usable answer: every machine becomes `unknown` (observed now) with this reason.
        case noAnswer(CollectorMetrics.PollOutcome, reason: String)
    }

    /// Sends the request, waits at most `timeout`, and records the states.
    func run(amqp: AMQPConnection, recorder: StateRecorder, timeout: Duration, logger: Logger) async {
        let trace = TraceContext.newTrace()
        let clock = ContinuousClock()
        let started = clock.now
        let answer = await ask(amqp: amqp, timeout: timeout, trace: trace)
        let outcome: CollectorMetrics.PollOutcome
        switch answer {
        case .states: outcome = .answered
        case .noAnswer(let why, _): outcome = why
        }
        recorder.metrics.poll(driver: driver, outcome: outcome, duration: clock.now - started)

        var logger = logger
        logger[metadataKey: "tenant.id"] = "\(tenant.rawValue)"
        logger[metadataKey: "driver"] = "\(driver.rawValue)"
        logger[metadataKey: "trace.id"] = "\(trace.traceID)"
        let now = Date()
        switch answer {
        case .states(let observations):
            for machine in machines {
                let record = observations[machine].map { StateRecord(state: $0.state, observedAt: $0.observedAt, source: .poll) }
                if record == nil {
                    logger.warning("The driver's answer left out a machine; marking it unknown", metadata: [
                        "machine.id": "\(machine.machineId.rawValue)"
                    ])
                }
                await recorder.recordPolled(
                    record ?? StateRecord(state: .unknown, observedAt: now, source: .poll), machine: machine,
                    tenant: tenant, trace: trace)
            }
        case .noAnswer(let outcome, let reason):
            logger.warning("A driver did not answer a state poll; its machines are now unknown", metadata: [
                "poll.outcome": "\(outcome.rawValue)", "error": "\(reason)", "machines": "\(machines.count)",
            ])
            for machine in machines {
                await recorder.recordPolled(
                    StateRecord(state: .unknown, observedAt: now, source: .poll), machine: machine, tenant: tenant,
                    trace: trace)
            }
        }
    }

    /// The RPC itself, to the driver's query queue. The request expires in the queue with the
    /// timeout, so requests no driver took never pile up.
    private func ask(amqp: AMQPConnection, timeout: Duration, trace: TraceContext) async -> Answer {
        let command = CommandEnvelope(
            tenantId: tenant, trace: trace, payload: .machineStates(MachineStatesQuery(machines: machines)))
        let envelope: ReplyEnvelope
        do {
            envelope = try await RPCClient(amqp: amqp).call(
                command, exchange: Routing.commandsExchange, routingKey: Routing.queryRoutingKey(driver: driver),
                timeout: timeout)
        } catch {
            switch error {
            case .timeout: return .noAnswer(.timeout, reason: "\(error)")
            case .unroutable: return .noAnswer(.unroutable, reason: "no driver queue: \(error)")
            case .unreadable: return .noAnswer(.invalidReply, reason: "\(error)")
            case .unavailable, .cancelled: return .noAnswer(.error, reason: "\(error)")
            }
        }
        switch envelope.payload {
        case .states(let states):
            let asked = Set(machines)
            var observations: [MachineRef: MachineStateObservation] = [:]
            for observation in states.states where asked.contains(observation.machine) {
                observations[observation.machine] = observation
            }
            return .states(observations)
        case .failure(let failure):
            return .noAnswer(.failure, reason: "the driver failed: \(failure)")
        default:
            return .noAnswer(.invalidReply, reason: "unexpected reply kind \(envelope.kind.rawValue)")
        }
    }
}
