import Foundation
import HTTPTypes
import PazGatewayAPI
import PazSchemas
import PazStore

/// `/v1/machines`: list, inspect, delete, lifecycle, ip (SSH credentials: Gateway+SSH.swift).
extension Gateway {
    func listMachines(_ input: Operations.ListMachines.Input) async throws -> Operations.ListMachines.Output {
        let tenant = try Principal.tenant()
        try Bounds.check(clusterFilter: input.query.cluster)
        let snapshot = try await stored { () async throws(StoreError) in try await store.statusSnapshot(tenant: tenant) }
        let clusterNames = Dictionary(snapshot.clusters.map { ($0.id, $0.name.rawValue) }, uniquingKeysWith: { $1 })
        let filter = input.query.cluster
        let now = Date()
        let machines = snapshot.machines.filter { machine in
            guard let filter else { return true }
            return machine.clusterId.rawValue == filter || clusterNames[machine.clusterId] == filter
        }.map {
            ResourceMapper.machine(
                $0, cluster: clusterNames[$0.clusterId] ?? $0.clusterId.rawValue, state: snapshot.states[$0.id],
                staleAfter: configuration.staleAfterSeconds, now: now)
        }
        return .ok(.init(body: .json(.init(machines: machines))))
    }

    func getMachine(_ input: Operations.GetMachine.Input) async throws -> Operations.GetMachine.Output {
        .ok(.init(body: .json(try await apiMachine(input.path.machine))))
    }

    func deleteMachine(_ input: Operations.DeleteMachine.Input) async throws -> Operations.DeleteMachine.Output {
        let tenant = try Principal.tenant()
        let machine = try await findMachine(input.path.machine, tenant: tenant)
        return .accepted(try await submit(Submission(
            tenant: tenant, kind: "machine.delete", target: try await machineTarget(machine, tenant: tenant), machines: [machine.ref],
            machineNames: [machine.id: machine.name],
            driver: machine.driver, commands: [.machineRemove(MachineAction(machine: machine.ref))], idempotencyKey: nil,
            request: "")))
    }

    func startMachine(_ input: Operations.StartMachine.Input) async throws -> Operations.StartMachine.Output {
        .accepted(try await machineAction(input.path.machine, .start, key: input.headers.idempotencyKey))
    }

    func stopMachine(_ input: Operations.StopMachine.Input) async throws -> Operations.StopMachine.Output {
        .accepted(try await machineAction(input.path.machine, .stop, key: input.headers.idempotencyKey))
    }

    func restartMachine(_ input: Operations.RestartMachine.Input) async throws -> Operations.RestartMachine.Output {
        .accepted(try await machineAction(input.path.machine, .restart, key: input.headers.idempotencyKey))
    }

    func killMachine(_ input: Operations.KillMachine.Input) async throws -> Operations.KillMachine.Output {
        .accepted(try await machineAction(input.path.machine, .kill, key: input.headers.idempotencyKey))
    }

    func getMachineIP(_ input: Operations.GetMachineIP.Input) async throws -> Operations.GetMachineIP.Output {
        let tenant = try Principal.tenant()
        let machine = try await findMachine(input.path.machine, tenant: tenant)
        let addresses = machine.details?.addresses ?? []
        guard let address = addresses.first(where: { $0.scope == .public }) ?? addresses.first else {
            throw GatewayProblem(.conflict, "invalid-state", "No address yet",
                                 detail: "machine \(machine.name) has no address yet; wait for its create operation")
        }
        return .ok(.init(body: .json(.init(
            machine: machine.name.rawValue, ip: address.address, family: address.address.contains(":") ? .ipv6 : .ipv4))))
    }

    // MARK: Helpers

    private func machineAction(_ idOrName: String, _ action: Lifecycle, key: String?) async throws
        -> Components.Responses.OperationAccepted
    {
        let tenant = try Principal.tenant()
        let machine = try await findMachine(idOrName, tenant: tenant)
        try await requireCapability(action.capability, driver: machine.driver)
        return try await submit(Submission(
            tenant: tenant, kind: "machine.\(action.rawValue)", target: try await machineTarget(machine, tenant: tenant),
            machines: [machine.ref], machineNames: [machine.id: machine.name],
            driver: machine.driver, commands: [action.command(MachineAction(machine: machine.ref))], idempotencyKey: key,
            request: "POST /v1/machines/\(machine.id.rawValue)/\(action.rawValue)"))
    }

    private func machineTarget(_ machine: MachineRecord, tenant: TenantID) async throws -> OperationTarget {
        let cluster = try await stored { () async throws(StoreError) in
            try await store.cluster(machine.clusterId.rawValue, tenant: tenant)
        }
        return OperationTarget(
            type: .machine, id: machine.id.rawValue, name: machine.name.rawValue, clusterId: machine.clusterId,
            clusterName: cluster?.name.rawValue)
    }

    private func apiMachine(_ idOrName: String) async throws -> Components.Schemas.Machine {
        let tenant = try Principal.tenant()
        let machine = try await findMachine(idOrName, tenant: tenant)
        let cluster = try await stored { () async throws(StoreError) in
            try await store.cluster(machine.clusterId.rawValue, tenant: tenant)
        }
        let states = try await stored { () async throws(StoreError) in try await store.states(tenant: tenant) }
        return ResourceMapper.machine(
            machine, cluster: cluster?.name.rawValue ?? machine.clusterId.rawValue, state: states[machine.id],
            staleAfter: configuration.staleAfterSeconds)
    }

    /// The tenant's machine by id or name; another tenant's is 404 like a missing one.
    func findMachine(_ idOrName: String, tenant: TenantID) async throws -> MachineRecord {
        if let id = try? MachineID(idOrName), idOrName.hasPrefix("mch_"),
            let machine = try await stored({ () async throws(StoreError) in try await store.machine(id, tenant: tenant) })
        {
            return machine
        }
        let machines = try await stored { () async throws(StoreError) in try await store.machines(tenant: tenant) }
        guard let machine = machines.first(where: { $0.name.rawValue == idOrName }) else {
            throw GatewayProblem.notFound("machine \(idOrName)")
        }
        return machine
    }
}
