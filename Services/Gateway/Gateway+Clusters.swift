import Foundation
import HTTPTypes
import PazGatewayAPI
import PazSchemas
import PazStore

/// `/v1/clusters`: create, list, inspect, delete, lifecycle, add machine.
extension Gateway {
    func listClusters(_ input: Operations.ListClusters.Input) async throws -> Operations.ListClusters.Output {
        let tenant = try Principal.tenant()
        let snapshot = try await stored { () async throws(StoreError) in try await store.statusSnapshot(tenant: tenant) }
        let clusters = snapshot.clusters.map { cluster in
            let states = cluster.machineIds.map { snapshot.states[$0]?.state ?? .unknown }
            return Components.Schemas.ClusterSummary(
                id: cluster.id.rawValue, name: cluster.name.rawValue, driver: cluster.driver.rawValue, size: cluster.size,
                image: cluster.image, location: cluster.location, machineCount: cluster.machineIds.count,
                states: ResourceMapper.counts(states), createdAt: cluster.createdAt)
        }
        return .ok(.init(body: .json(.init(clusters: clusters))))
    }

    func getCluster(_ input: Operations.GetCluster.Input) async throws -> Operations.GetCluster.Output {
        let tenant = try Principal.tenant()
        let cluster = try await findCluster(input.path.cluster, tenant: tenant)
        let machines = try await stored { () async throws(StoreError) in try await store.machines(tenant: tenant) }
            .filter { $0.clusterId == cluster.id }
        let states = try await stored { () async throws(StoreError) in try await store.states(tenant: tenant) }
        let now = Date()
        var apiMachines = machines.map {
            ResourceMapper.machine(
                $0, cluster: cluster.name.rawValue, state: states[$0.id], staleAfter: configuration.staleAfterSeconds, now: now)
        }
        if input.query.probe == true { apiMachines = await withUnits(apiMachines, records: machines) }
        let answer = Components.Schemas.Cluster(
            id: cluster.id.rawValue, name: cluster.name.rawValue, driver: cluster.driver.rawValue, size: cluster.size,
            image: cluster.image, location: cluster.location, options: ResourceMapper.optionMap(cluster.options),
            secretOptions: cluster.secretOptionNames, machineCount: machines.count,
            states: ResourceMapper.counts(machines.map { states[$0.id]?.state ?? .unknown }), machines: apiMachines,
            createdAt: cluster.createdAt)
        return .ok(.init(body: .json(answer)))
    }

    func createCluster(_ input: Operations.CreateCluster.Input) async throws -> Operations.CreateCluster.Output {
        let tenant = try Principal.tenant()
        guard case .json(let body) = input.body else { throw GatewayProblem.validation("JSON body required", field: "body") }
        let name: ResourceName
        do {
            name = try ResourceName(body.name, field: "name")
        } catch {
            throw error.problem
        }
        let request = Self.requestText("POST", "/v1/clusters", body, key: input.headers.idempotencyKey)
        if let earlier = try await replay(key: input.headers.idempotencyKey, request: request, tenant: tenant) {
            return .accepted(earlier)
        }
        if let given = body.count { try Bounds.check(given, Bounds.machines, field: "count") }
        if let machines = body.machines { try Bounds.check(machines.count, Bounds.machines, field: "machines") }
        try Bounds.check(size: body.size, image: body.image, location: body.location, options: body.options, prefix: "")
        for (index, spec) in (body.machines ?? []).enumerated() {
            try Bounds.check(size: spec.size, image: spec.image, location: spec.location, options: spec.options,
                             prefix: "machines[\(index)].")
        }
        let replicas = try await liveDriver(body.driver, field: "driver")
        let driver = replicas[0]
        let count = body.machines?.count ?? body.count ?? 1
        if let given = body.count, let machines = body.machines, given != machines.count {
            throw GatewayProblem.validation("count is \(given) but machines lists \(machines.count)", field: "count")
        }
        let machineSpecs: [Components.Schemas.MachineCreate?] = body.machines ?? Array(repeating: nil, count: count)
        let validator = OptionValidator(replicas: replicas)
        let defaults = try await driverDefaults(tenant: tenant, driver: driver.name)
        let resolved = try validator.resolve(
            cluster: body.options, defaults: defaults, machines: machineSpecs.map { $0?.options },
            machineField: { "machines[\($0)]." })
        let cluster = ClusterRecord(
            name: name, driver: driver.name, size: body.size, image: body.image, location: body.location,
            options: try validator.clusterOptions(body.options),
            secretOptionNames: Array(Set(resolved.flatMap(\.secrets.keys))).sorted())
        var machines: [MachineRecord] = []
        for (index, spec) in machineSpecs.enumerated() {
            let text = spec?.name ?? "\(name.rawValue)-\(index + 1)"
            let machineName: ResourceName
            do {
                machineName = try ResourceName(text, field: spec?.name == nil ? "name" : "machines[\(index)].name")
            } catch {
                throw error.problem
            }
            machines.append(MachineRecord(
                name: machineName, clusterId: cluster.id, driver: driver.name, options: resolved[index].plain))
        }
        var record = cluster
        record.machineIds = machines.map(\.id)
        let commands: [CommandPayload] = machines.enumerated().map { index, machine in
            let spec = machineSpecs[index]
            return .machineCreate(MachineCreate(
                driver: driver.name, clusterId: record.id, clusterName: record.name, machineId: machine.id,
                machineName: machine.name, size: spec?.size ?? body.size, image: spec?.image ?? body.image,
                location: spec?.location ?? body.location, options: machine.options, machinesInOperation: machines.count))
        }
        let submission = Submission(
            tenant: tenant, kind: "cluster.create",
            target: OperationTarget(type: .cluster, id: record.id.rawValue, name: record.name.rawValue, clusterId: record.id),
            machines: machines.map(\.ref), machineNames: Self.names(machines), driver: driver.name, commands: commands,
            idempotencyKey: input.headers.idempotencyKey, request: request)
        let finalRecord = record
        let secrets = Dictionary(zip(machines.map(\.id), resolved.map(\.secrets)), uniquingKeysWith: { first, _ in first })
        let recording = try await stored { () async throws(StoreError) in
            try store.newClusterRecording(finalRecord, machines: machines, secrets: secrets, tenant: tenant)
        }
        let accepted = try await submit(submission, recording: recording, undo: { () async throws(StoreError) in
            for machine in machines { try await store.removeMachine(machine, tenant: tenant) }
            try await store.removeCluster(finalRecord, tenant: tenant)
        })
        return .accepted(accepted)
    }

    func deleteCluster(_ input: Operations.DeleteCluster.Input) async throws -> Operations.DeleteCluster.Output {
        let tenant = try Principal.tenant()
        let cluster = try await findCluster(input.path.cluster, tenant: tenant)
        let refs = cluster.machineIds.map { MachineRef(clusterId: cluster.id, machineId: $0) }
        let commands: [CommandPayload] = refs.map { .machineRemove(MachineAction(machine: $0)) }
            + [.clusterRemove(ClusterRemove(clusterId: cluster.id, machineIds: cluster.machineIds))]
        return .accepted(try await submit(Submission(
            tenant: tenant, kind: "cluster.delete", target: clusterTarget(cluster), machines: refs,
            machineNames: try await machineNames(of: cluster, tenant: tenant), driver: cluster.driver,
            commands: commands, idempotencyKey: nil, request: "")))
    }

    func startCluster(_ input: Operations.StartCluster.Input) async throws -> Operations.StartCluster.Output {
        .accepted(try await clusterAction(input.path.cluster, .start, key: input.headers.idempotencyKey))
    }

    func stopCluster(_ input: Operations.StopCluster.Input) async throws -> Operations.StopCluster.Output {
        .accepted(try await clusterAction(input.path.cluster, .stop, key: input.headers.idempotencyKey))
    }

    func restartCluster(_ input: Operations.RestartCluster.Input) async throws -> Operations.RestartCluster.Output {
        .accepted(try await clusterAction(input.path.cluster, .restart, key: input.headers.idempotencyKey))
    }

    func addMachine(_ input: Operations.AddMachine.Input) async throws -> Operations.AddMachine.Output {
        let tenant = try Principal.tenant()
        let cluster = try await findCluster(input.path.cluster, tenant: tenant)
        let spec: Components.Schemas.MachineCreate? = switch input.body {
        case .json(let body): body
        case .none: nil
        }
        let request = Self.requestText("POST", "/v1/clusters/\(cluster.id.rawValue)/machines", spec, key: input.headers.idempotencyKey)
        if let earlier = try await replay(key: input.headers.idempotencyKey, request: request, tenant: tenant) {
            return .accepted(earlier)
        }
        if let spec {
            try Bounds.check(size: spec.size, image: spec.image, location: spec.location, options: spec.options, prefix: "")
        }
        let replicas = try await liveDriver(cluster.driver.rawValue, field: "driver")
        let driver = replicas[0]
        let existing = try await stored { () async throws(StoreError) in try await store.machines(tenant: tenant) }
        let names = Set(existing.map(\.name.rawValue))
        let text = spec?.name ?? (1...).lazy.map { "\(cluster.name.rawValue)-\($0)" }.first { !names.contains($0) }!
        let name: ResourceName
        do {
            name = try ResourceName(text, field: "name")
        } catch {
            throw error.problem
        }
        let clusterOptions = Components.Schemas.OptionMap(
            additionalProperties: cluster.options.compactMapValues(ResourceMapper.optionValue))
        let resolved = try OptionValidator(replicas: replicas).resolve(
            cluster: clusterOptions, defaults: try await driverDefaults(tenant: tenant, driver: driver.name),
            machines: [spec?.options], machineField: { _ in "" })[0]
        let machine = MachineRecord(name: name, clusterId: cluster.id, driver: driver.name, options: resolved.plain)
        let command = CommandPayload.machineCreate(MachineCreate(
            driver: driver.name, clusterId: cluster.id, clusterName: cluster.name, machineId: machine.id, machineName: name,
            size: spec?.size ?? cluster.size, image: spec?.image ?? cluster.image,
            location: spec?.location ?? cluster.location, options: resolved.plain))
        let submission = Submission(
            tenant: tenant, kind: "machine.create",
            target: OperationTarget(
                type: .machine, id: machine.id.rawValue, name: name.rawValue, clusterId: cluster.id, clusterName: cluster.name.rawValue),
            machines: [machine.ref], machineNames: [machine.id: machine.name], driver: driver.name, commands: [command], idempotencyKey: input.headers.idempotencyKey,
            request: request)
        let accepted = try await submit(submission) { () async throws(StoreError) in
            try await store.addMachine(machine, to: cluster.id, tenant: tenant)
            if !resolved.secrets.isEmpty { try await store.putSecrets(resolved.secrets, tenant: tenant, machine: machine.id) }
        } undo: { () async throws(StoreError) in
            try await store.removeMachine(machine, tenant: tenant)
        }
        return .accepted(accepted)
    }

    // MARK: Helpers

    /// A lifecycle action on every machine of a cluster.
    private func clusterAction(_ idOrName: String, _ action: Lifecycle, key: String?) async throws
        -> Components.Responses.OperationAccepted
    {
        let tenant = try Principal.tenant()
        let cluster = try await findCluster(idOrName, tenant: tenant)
        try await requireCapability(action.capability, driver: cluster.driver)
        let refs = cluster.machineIds.map { MachineRef(clusterId: cluster.id, machineId: $0) }
        return try await submit(Submission(
            tenant: tenant, kind: "cluster.\(action.rawValue)", target: clusterTarget(cluster), machines: refs,
            machineNames: try await machineNames(of: cluster, tenant: tenant), driver: cluster.driver, commands: refs.map { action.command(MachineAction(machine: $0)) }, idempotencyKey: key,
            request: "POST /v1/clusters/\(cluster.id.rawValue)/\(action.rawValue)"))
    }

    /// The names of a cluster's machines, by id.
    private func machineNames(of cluster: ClusterRecord, tenant: TenantID) async throws -> [MachineID: ResourceName] {
        let machines = try await stored { () async throws(StoreError) in try await store.machines(tenant: tenant) }
        return Self.names(machines.filter { $0.clusterId == cluster.id })
    }

    static func names(_ machines: [MachineRecord]) -> [MachineID: ResourceName] {
        Dictionary(machines.map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
    }

    func clusterTarget(_ cluster: ClusterRecord) -> OperationTarget {
        OperationTarget(type: .cluster, id: cluster.id.rawValue, name: cluster.name.rawValue, clusterId: cluster.id)
    }

    /// The tenant's cluster by id or name; another tenant's is 404 like a missing one.
    func findCluster(_ idOrName: String, tenant: TenantID) async throws -> ClusterRecord {
        guard let cluster = try await stored({ () async throws(StoreError) in try await store.cluster(idOrName, tenant: tenant) })
        else { throw GatewayProblem.notFound("cluster \(idOrName)") }
        return cluster
    }

    /// The live replicas of a driver named in a request; 422 `unknown-driver` when none.
    func liveDriver(_ name: String, field: String) async throws -> [DriverAnnouncement] {
        let replicas = try await stored { () async throws(StoreError) in try await liveDrivers.replicas(of: name, store: store) }
        guard !replicas.isEmpty else {
            throw GatewayProblem(.unprocessableContent, "unknown-driver", "Unknown driver",
                                 detail: "no live driver named \"\(name)\"; see GET /v1/drivers", field: field)
        }
        return replicas
    }

    /// 503 when the driver has no live replica, 422 when it lacks the capability.
    func requireCapability(_ capability: DriverCapability, driver: ResourceName) async throws {
        let replicas = try await stored { () async throws(StoreError) in
            try await liveDrivers.replicas(of: driver.rawValue, store: store)
        }
        guard !replicas.isEmpty else {
            throw GatewayProblem(.serviceUnavailable, "driver-unavailable", "Driver unavailable",
                                 detail: "driver \(driver) has no live replica right now; nothing was queued", retryAfter: 5)
        }
        guard replicas.allSatisfy({ $0.capabilities.contains(capability) }) else {
            throw GatewayProblem(.unprocessableContent, "unsupported-operation", "Unsupported operation",
                                 detail: "driver \(driver) cannot \(capability.rawValue) machines")
        }
    }

}

/// A machine lifecycle command.
enum Lifecycle: String {
    case start, stop, restart, kill

    var capability: DriverCapability { DriverCapability(rawValue: rawValue) }

    func command(_ action: MachineAction) -> CommandPayload {
        switch self {
        case .start: .machineStart(action)
        case .stop: .machineStop(action)
        case .restart: .machineRestart(action)
        case .kill: .machineKill(action)
        }
    }
}
