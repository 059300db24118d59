import Foundation
import HTTPTypes
import PazGatewayAPI
import PazSchemas
import PazStore

/// `POST /v1/machines/{machine}/probe` and `GET /v1/clusters/{cluster}?probe=true`: reachability,
/// uptime, load, kernel, OS and running services, asked of the machine's driver over SSH.
extension Gateway {
    func probeMachine(_ input: Operations.ProbeMachine.Input) async throws -> Operations.ProbeMachine.Output {
        let tenant = try Principal.tenant()
        let machine = try await findMachine(input.path.machine, tenant: tenant)
        let body: Components.Schemas.ProbeRequest? = if case .json(let request)? = input.body { request } else { nil }
        if let timeout = body?.timeoutSeconds, !(1...60).contains(timeout) {
            throw GatewayProblem.validation("timeoutSeconds must be between 1 and 60", field: "timeoutSeconds")
        }
        var result = try await probe(machine, timeoutSeconds: body?.timeoutSeconds)
        if body?.units == false { result.units = nil }
        return .ok(.init(body: .json(result)))
    }

    /// Probes `machine` through its driver (it must announce the `probe` capability).
    func probe(_ machine: MachineRecord, timeoutSeconds: Int? = nil) async throws -> Components.Schemas.ProbeResult {
        guard machine.details?.ssh != nil else {
            throw GatewayProblem(
                .conflict, "invalid-state", "Nothing to probe",
                detail: "machine \(machine.name) has no SSH endpoint recorded (its create has not finished, or failed); "
                    + "see its operation, or remove it")
        }
        try await requireCapability(.probe, driver: machine.driver)
        let started = ContinuousClock.now
        let reply = try await driverQuery(
            machine.driver.rawValue, .machineProbe(MachineAction(machine: machine.ref, timeoutSeconds: timeoutSeconds)))
        guard case .probe(let result) = reply else {
            throw GatewayProblem(.badGateway, "provider-error", "Driver error", detail: "the driver answered \(reply.kind.rawValue)")
        }
        let elapsed = ContinuousClock.now - started
        return Components.Schemas.ProbeResult(
            machine: machine.name.rawValue, reachable: result.reachable, observedAt: result.observedAt,
            durationMs: Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000),
            uptimeSeconds: result.uptimeSeconds,
            load: result.loadAverage.map { .init(one: $0.one, five: $0.five, fifteen: $0.fifteen) },
            kernel: result.kernel,
            os: result.osRelease.map { .init(id: $0.id ?? "linux", versionId: $0.versionId, prettyName: $0.prettyName) },
            units: result.runningUnits?.map { .init(name: $0, activeState: "active", subState: "running") },
            error: result.error)
    }

    /// `machines` with the running services of each, probed concurrently; a machine that cannot be
    /// probed keeps no units (its error does not fail the inspect).
    func withUnits(_ machines: [Components.Schemas.Machine], records: [MachineRecord]) async -> [Components.Schemas.Machine] {
        let byId = Dictionary(records.map { ($0.id.rawValue, $0) }, uniquingKeysWith: { first, _ in first })
        let probed = await withTaskGroup(of: (String, Components.Schemas.ProbeResult?).self) { group in
            for machine in machines {
                guard let record = byId[machine.id] else { continue }
                group.addTask { (machine.id, try? await self.probe(record)) }
            }
            var results: [String: Components.Schemas.ProbeResult] = [:]
            for await (id, result) in group { results[id] = result }
            return results
        }
        return machines.map { machine in
            var machine = machine
            if let result = probed[machine.id], result.reachable {
                machine.units = result.units ?? []
                machine.unitsObservedAt = result.observedAt
            }
            return machine
        }
    }
}
