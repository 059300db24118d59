import Foundation
import HTTPTypes
import PazGatewayAPI
import PazSchemas
import PazStore

/// Turns stored operations into the API's `Operation`.
struct OperationMapper {
    let store: Store

    func operation(_ view: OperationView) async throws -> Components.Schemas.Operation {
        // Names never change: the operation keeps them; only records older than that are looked up.
        let tenant = Principal.current.tenantId
        var names: [MachineID: String] = [:]
        if let tenant, view.record.machines.contains(where: { view.record.machineNames?[$0.machineId.rawValue] == nil }) {
            for machine in (try? await store.machines(tenant: tenant)) ?? [] { names[machine.id] = machine.name.rawValue }
        }
        let byMachine = Dictionary(view.progress.map { ($0.machine.machineId, $0) }, uniquingKeysWith: { $1 })
        let machines = view.record.machines.map { ref in
            let progress = byMachine[ref.machineId]
            return Components.Schemas.MachineProgress(
                machine: view.record.machineNames?[ref.machineId.rawValue] ?? names[ref.machineId] ?? ref.machineId.rawValue,
                machineId: ref.machineId.rawValue,
                state: Self.state(progress?.phase ?? .accepted), step: progress?.step, message: nil,
                error: progress?.error.map(Self.problem), updatedAt: view.updatedAt)
        }
        let phase = view.phase
        let target = view.record.target
        var clusterName = target.type == .cluster ? target.name : target.clusterName
        if clusterName == nil { clusterName = try? await self.clusterName(target.clusterId) }
        return Components.Schemas.Operation(
            id: view.record.id.rawValue,
            kind: Components.Schemas.OperationKind(rawValue: view.record.kind) ?? .cluster_create,
            target: Components.Schemas.OperationTarget(
                _type: target.type == .cluster ? .cluster : .machine,
                cluster: clusterName ?? target.clusterId.rawValue,
                clusterId: target.clusterId.rawValue,
                machine: target.type == .machine ? target.name : nil,
                machineId: target.type == .machine ? target.id : nil),
            state: Self.state(phase), machines: machines, error: view.error.map(Self.problem),
            idempotencyKey: view.record.idempotencyKey, createdAt: view.record.createdAt, updatedAt: view.updatedAt,
            finishedAt: phase.isFinished ? view.updatedAt : nil)
    }

    private func clusterName(_ id: ClusterID) async throws -> String? {
        guard let tenant = Principal.current.tenantId else { return nil }
        return try await store.cluster(id.rawValue, tenant: tenant)?.name.rawValue
    }

    static func state(_ phase: OperationPhase) -> Components.Schemas.OperationState {
        switch phase {
        case .accepted: .queued
        case .running: .running
        case .succeeded: .succeeded
        case .failed: .failed
        }
    }

    /// An operation error as a problem document.
    static func problem(_ error: OperationError) -> Components.Schemas.Problem {
        Components.Schemas.Problem(
            _type: "urn:paz:problem:\(error.code.rawValue)", title: error.code.rawValue, status: 422,
            detail: error.message, field: error.field, retriable: error.retriable)
    }
}

extension Principal {
    var tenantId: TenantID? {
        if case .tenant(let id) = self { return id }
        return nil
    }
}

/// Turns stored clusters and machines into API resources.
enum ResourceMapper {
    static func machine(
        _ record: MachineRecord, cluster: String, state: StateRecord?, staleAfter: Int, now: Date = Date()
    ) -> Components.Schemas.Machine {
        let details = record.details
        return Components.Schemas.Machine(
            id: record.id.rawValue, name: record.name.rawValue, cluster: cluster, clusterId: record.clusterId.rawValue,
            driver: record.driver.rawValue, size: details?.size, image: details?.image, location: details?.location,
            providerId: details?.providerId, state: apiState(state?.state ?? .unknown), observedAt: state?.observedAt,
            stale: isStale(state, staleAfter: staleAfter, now: now),
            addresses: (details?.addresses ?? []).map(address),
            ssh: details?.ssh.map { .init(host: $0.host, port: $0.port, user: $0.user) },
            pendingOperation: nil, createdAt: record.createdAt)
    }

    static func address(_ address: MachineAddress) -> Components.Schemas.Address {
        Components.Schemas.Address(
            address: address.address, family: address.address.contains(":") ? .ipv6 : .ipv4,
            scope: address.scope == .public ? ._public : ._private)
    }

    static func isStale(_ state: StateRecord?, staleAfter: Int, now: Date) -> Bool {
        guard let state else { return true }
        return now.timeIntervalSince(state.observedAt) > Double(staleAfter)
    }

    static func apiState(_ state: MachineState) -> Components.Schemas.MachineState {
        Components.Schemas.MachineState(rawValue: state.rawValue) ?? .unknown
    }

    static func counts(_ states: [MachineState]) -> Components.Schemas.StateCounts {
        var counts = Components.Schemas.StateCounts(
            running: 0, stopped: 0, starting: 0, stopping: 0, error: 0, notFound: 0, unknown: 0)
        for state in states {
            switch state {
            case .running: counts.running += 1
            case .stopped: counts.stopped += 1
            case .starting: counts.starting += 1
            case .stopping: counts.stopping += 1
            case .error: counts.error += 1
            case .notFound: counts.notFound += 1
            case .unknown: counts.unknown += 1
            }
        }
        return counts
    }

    static func optionValue(_ value: JSONValue) -> Components.Schemas.OptionValue? {
        switch value {
        case .string(let text): .StringValue(text)
        case .bool(let flag): .BooleanValue(flag)
        case .number(let number): .IntegerValue(Int64(number))
        default: nil
        }
    }

    static func jsonValue(_ value: Components.Schemas.OptionValue) -> JSONValue {
        switch value {
        case .StringValue(let text): .string(text)
        case .IntegerValue(let number): .number(Double(number))
        case .BooleanValue(let flag): .bool(flag)
        }
    }

    static func optionMap(_ options: [String: JSONValue]) -> Components.Schemas.OptionMap {
        Components.Schemas.OptionMap(additionalProperties: options.compactMapValues(optionValue))
    }
}
