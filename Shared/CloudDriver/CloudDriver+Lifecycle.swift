import Foundation
import Logging
package import PazDriverKit
package import PazSchemas

extension CloudDriver {
    // MARK: Remove

    package func remove(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> RemovalResult {
        guard let data = try await context.driverData(CloudMachineData.self, version: CloudMachineData.version, for: machine.machineId) else {
            return RemovalResult(clusterId: machine.clusterId, machineIds: [machine.machineId], removedResources: [], alreadyGone: true)
        }
        let account = try await account(of: data, machine: machine, context: context)
        let api = try api(account, context: context)
        let removed = try await removeServers(machine, recorded: data.serverId, account: account, api: api, context: context)
        try await context.forgetDriverData(for: machine.machineId)
        return RemovalResult(
            clusterId: machine.clusterId, machineIds: [machine.machineId], removedResources: removed + ["driver-data"],
            alreadyGone: !removed.contains { $0.hasPrefix("server:") })
    }

    /// Deletes the machine's servers (the recorded one, or any labelled with it), waits until they are
    /// gone, then removes the cluster's SSH key and firewall if no server of it is left.
    private func removeServers(
        _ machine: MachineRef, recorded: String?, account: CloudAccount, api: any CloudAPI, context: DriverContext
    ) async throws(DriverError) -> [String] {
        let labels = CloudLabels(tenant: context.tenant, cluster: machine.clusterId, machine: machine.machineId)
        // The recorded server is the machine's only one (a create adopts before it makes another);
        // without a record, the servers labelled with the machine (an interrupted create's).
        let ids = if let recorded {
            [recorded]
        } else {
            try await launched(labels, recorded: nil, api: api, context: context).map { [$0.id] } ?? []
        }
        var removed: [String] = []
        for id in ids {
            await context.progress(machine, step: "deleting server \(id)")
            if try await deleteServer(id, api: api) { removed.append("server:\(id)") }
        }
        try await cloud { () async throws(CloudAPIError) in try await api.forgetServer(labelled: labels) }
        return removed + (try await cleanUp(machine.clusterId, account: account, api: api, context: context))
    }

    /// The cluster's SSH key and firewall removed if no server of it is left; the removals finishing
    /// together share one look.
    private func cleanUp(_ cluster: ClusterID, account: CloudAccount, api: any CloudAPI, context: DriverContext) async throws(DriverError)
        -> [String]
    {
        try await cleanups.submit(cluster, key: ClusterKey(account: account, tenant: context.tenant, cluster: cluster)) {
            _ throws(DriverError) in
            [cluster: try await removeClusterResourcesIfUnused(cluster, account: account, api: api, context: context)]
        }
    }

    /// Deletes the server and waits (its action, then until the provider no longer knows it); false
    /// when it was gone already.
    private func deleteServer(_ id: String, api: any CloudAPI) async throws(DriverError) -> Bool {
        let deadline = ContinuousClock.now + Self.deletionTimeout
        do throws(CloudAPIError) {
            if let action = try await api.deleteServer(id: id) {
                try await api.finish(action, of: "server \(id)", provider: provider.displayName, deadline: deadline, pollingUpTo: settings.pollInterval)
            }
        } catch where error.isNotFound {
            return false
        } catch {
            throw error.driverError
        }
        var intervals = PollIntervals(upTo: settings.pollInterval)
        while try await cloud({ () async throws(CloudAPIError) in try await api.server(id: id) }) != nil {
            let interval = intervals.take()
            guard ContinuousClock.now + interval < deadline else {
                throw .timeout("server \(id) was not deleted in time")
            }
            try await pause(interval, waitingFor: "the deletion of server \(id)")
        }
        return true
    }

    /// How long a deletion may take.
    static let deletionTimeout = Duration.seconds(600)

    /// Removes the cluster's SSH keys and firewalls once none of its servers is left.
    private func removeClusterResourcesIfUnused(
        _ cluster: ClusterID, account: CloudAccount, api: any CloudAPI, context: DriverContext
    ) async throws(DriverError) -> [String] {
        let labels = CloudLabels(tenant: context.tenant, cluster: cluster)
        let left = try await cloud { () async throws(CloudAPIError) in try await api.servers(labelled: labels) }
        guard left.isEmpty else { return [] }
        await clusterResources.forget(ClusterKey(account: account, tenant: context.tenant, cluster: cluster))
        let resources = try await cloud { () async throws(CloudAPIError) in try await api.clusterResources(named: Self.clusterResourceName(cluster), labels: labels) }
        for resource in resources {
            try await cloud { () async throws(CloudAPIError) in try await api.delete(resource) }
        }
        if !resources.isEmpty {
            context.logger.info("removed the cluster's resources", metadata: ["removed": "\(resources.map(\.description))"])
        }
        return resources.map(\.description)
    }

    /// Best-effort removal after a failed create: the machine's servers (only if it was recorded: the
    /// record precedes the server), the cluster's resources if unused, the record. Failures are logged
    /// (the machine's `rm` tries again).
    func discard(_ machine: MachineRef, account: CloudAccount, api: any CloudAPI, context: DriverContext) async {
        do throws(DriverError) {
            if let data = try await context.driverData(CloudMachineData.self, version: CloudMachineData.version, for: machine.machineId) {
                _ = try await removeServers(machine, recorded: data.serverId, account: account, api: api, context: context)
                try await context.forgetDriverData(for: machine.machineId)
            } else {
                _ = try await cleanUp(machine.clusterId, account: account, api: api, context: context)
            }
        } catch {
            context.logger.warning("could not remove what the failed create made; rm will try again", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Power

    package func start(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> MachineDetails {
        let (data, account, api, id) = try await recorded(machine, context: context)
        try await act(.start, on: id, machine: machine, deadline: .now + .seconds(data.bootTimeoutSeconds), api: api, context: context)
        return try await becomeReady(machine, data: data, account: account, api: api, context: context)
    }

    package func restart(_ machine: MachineRef, timeout: Duration?, context: DriverContext) async throws(DriverError) -> MachineDetails {
        let (data, account, api, id) = try await recorded(machine, context: context)
        try await act(.reboot, on: id, machine: machine, deadline: .now + .seconds(data.bootTimeoutSeconds), api: api, context: context)
        return try await becomeReady(machine, data: data, account: account, api: api, context: context)
    }

    /// An ACPI shutdown; the power is cut when the server is not off within `timeout` (default 120 s).
    package func stop(_ machine: MachineRef, timeout: Duration?, context: DriverContext) async throws(DriverError) -> MachineDetails {
        let (data, account, api, id) = try await recorded(machine, context: context)
        let grace = ContinuousClock.now + (timeout ?? .seconds(120))
        do throws(DriverError) {
            try await act(.shutdown, on: id, machine: machine, deadline: grace, api: api, context: context)
            _ = try await wait(for: id, until: .stopped, deadline: grace, account: account, api: api, context: context)
        } catch where error.isTimeout {
            context.logger.info("the server did not shut down in time; cutting its power", metadata: ["server": "\(id)"])
            return try await kill(machine, context: context)
        }
        return details(machine, data: data, state: .stopped)
    }

    package func kill(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> MachineDetails {
        let (data, account, api, id) = try await recorded(machine, context: context)
        let deadline = ContinuousClock.now + .seconds(600)
        try await act(.powerOff, on: id, machine: machine, deadline: deadline, api: api, context: context)
        _ = try await wait(for: id, until: .stopped, deadline: deadline, account: account, api: api, context: context)
        return details(machine, data: data, state: .stopped)
    }

    /// Asks for `action` and waits until the provider has done it.
    private func act(
        _ action: CloudPowerAction, on id: String, machine: MachineRef, deadline: ContinuousClock.Instant, api: any CloudAPI,
        context: DriverContext
    ) async throws(DriverError) {
        await context.progress(machine, step: "\(action.rawValue) server \(id)")
        let started = try await cloud { () async throws(CloudAPIError) in try await api.power(action, server: id) }
        if let started {
            try await cloud { () async throws(CloudAPIError) in
                try await api.finish(
                    started, of: "server \(id)", provider: provider.displayName, deadline: deadline, pollingUpTo: settings.pollInterval)
            }
        }
    }

    private func recorded(_ machine: MachineRef, context: DriverContext) async throws(DriverError)
        -> (CloudMachineData, CloudAccount, any CloudAPI, String)
    {
        let data = try await machineData(machine, context: context)
        guard let id = data.serverId else {
            throw .conflict("machine \(machine.machineId) has no server yet: its create has not finished")
        }
        let account = try await account(of: data, machine: machine, context: context)
        return (data, account, try api(account, context: context), id)
    }

    // MARK: Waiting

    /// Polls the server until it is in `target`; gone ends the wait with a conflict, the deadline
    /// with a timeout. The waits of one account share one listing per poll.
    func wait(
        for id: String, until target: MachineState, deadline: ContinuousClock.Instant, account: CloudAccount, api: any CloudAPI,
        context: DriverContext
    ) async throws(DriverError) -> CloudServer {
        var seen = false
        let tenant = context.tenant
        var intervals = PollIntervals(upTo: settings.pollInterval)
        while true {
            let server = try await looks.submit(id, key: TenantAccount(account: account, tenant: tenant)) { batch throws(DriverError) in
                try await look(at: batch, tenant: tenant, api: api)
            }
            if let server {
                seen = true
                if server.state == target { return server }
            } else if seen {
                throw .conflict("server \(id) disappeared while waiting for it to be \(target.rawValue)")
            }
            let interval = intervals.take()
            guard ContinuousClock.now + interval < deadline else {
                throw .timeout("server \(id) was not \(target.rawValue) in time (last: \(server?.status ?? "not found"))")
            }
            try await pause(interval, waitingFor: "server \(id)")
        }
    }

    /// The servers `ids`: one listing of the tenant's servers, then one read each for those it does
    /// not show yet (listings lag behind creates). Nil: the provider does not know it.
    private func look(at ids: [String], tenant: TenantID, api: any CloudAPI) async throws(DriverError) -> [String: CloudServer?] {
        let wanted = Set(ids)
        var found: [String: CloudServer?] = [:]
        let listed = try await cloud { () async throws(CloudAPIError) in try await api.servers(labelled: CloudLabels(tenant: tenant)) }
        for server in listed where wanted.contains(server.id) { found[server.id] = server }
        for id in ids where found[id] == nil {
            found[id] = .some(try await cloud { () async throws(CloudAPIError) in try await api.server(id: id) })
        }
        return found
    }

    // MARK: States

    package func states(of machines: [MachineRef], context: DriverContext) async throws(DriverError) -> [MachineRef: MachineStateObservation] {
        let now = Date()
        var result: [MachineRef: MachineStateObservation] = [:]
        // Machines by account: one listing (all pages) for each.
        var accounts: [CloudAccount: [(MachineRef, String)]] = [:]
        for machine in machines {
            do throws(DriverError) {
                guard let data = try await context.driverData(CloudMachineData.self, version: CloudMachineData.version, for: machine.machineId) else {
                    result[machine] = MachineStateObservation(machine: machine, state: .notFound, observedAt: now,
                                                              detail: "the \(name) driver has no record of this machine")
                    continue
                }
                guard let id = data.serverId else {
                    result[machine] = MachineStateObservation(machine: machine, state: .starting, observedAt: now,
                                                              detail: "the server is being created")
                    continue
                }
                accounts[try await account(of: data, machine: machine, context: context), default: []].append((machine, id))
            } catch {
                result[machine] = MachineStateObservation(machine: machine, state: .unknown, observedAt: now, detail: "\(error)")
            }
        }
        for (account, members) in accounts {
            do throws(DriverError) {
                let servers = try await look(at: members.map(\.1), tenant: context.tenant, api: try api(account, context: context))
                for (machine, id) in members {
                    let server = servers[id] ?? nil
                    result[machine] = MachineStateObservation(
                        machine: machine, state: server?.state ?? .notFound, observedAt: now,
                        detail: "\(provider.displayName) server \(id) \(server?.status ?? "not found")")
                }
            } catch {
                for (machine, _) in members {
                    result[machine] = MachineStateObservation(machine: machine, state: .unknown, observedAt: now, detail: "\(error)")
                }
            }
        }
        return result
    }

    // MARK: Probe

    package func probe(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> ProbeResult {
        let data = try await machineData(machine, context: context)
        guard let host = data.publicIp else {
            return ProbeResult(machine: machine, reachable: false, observedAt: Date(), error: "the server has no public IPv4 address")
        }
        return try await BrokeredSSH(machine: machine, host: host, port: 22, user: data.user, hostPublicKey: data.hostPublicKey)
            .probe(allowedBy: settings.addresses, context: context)
    }
}

extension DriverError {
    /// A timeout.
    var isTimeout: Bool {
        if case .timeout = self { true } else { false }
    }
}
