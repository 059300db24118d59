import Foundation
import Logging
import PazCloudDriver
package import PazDriverKit
package import PazSchemas

extension EC2Driver {
    // MARK: Remove

    package func remove(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> RemovalResult {
        guard let data = try await context.driverData(EC2MachineData.self, version: EC2MachineData.version, for: machine.machineId) else {
            return RemovalResult(clusterId: machine.clusterId, machineIds: [machine.machineId], removedResources: [], alreadyGone: true)
        }
        let client = try await client(for: data, machine: machine, context: context)
        let removed = try await removeInstances(machine, recorded: data.instanceId, client: client, context: context)
        try await context.forgetDriverData(for: machine.machineId)
        return RemovalResult(
            clusterId: machine.clusterId, machineIds: [machine.machineId], removedResources: removed + ["driver-data"],
            alreadyGone: !removed.contains { $0.hasPrefix("instance:") })
    }

    /// Terminates the machine's instances (the recorded one and any tagged with it), waits until they
    /// are gone, then removes the cluster's shared resources if no instance of it is left.
    private func removeInstances(
        _ machine: MachineRef, recorded: String?, client: EC2Client, context: DriverContext
    ) async throws(DriverError) -> [String] {
        // The recorded instance is the machine's only one (a create adopts before it launches again);
        // without a record, the instances tagged with the machine.
        let ids = if let recorded {
            [recorded]
        } else {
            try await ec2 { () async throws(EC2Error) in try await client.instances(EC2Tags.aliveInstances(of: machine.machineId)) }.map(\.id)
        }
        var removed: [String] = []
        for id in ids {
            await context.progress(machine, step: "terminating \(id)")
            let previous = try await terminations.submit(id, key: client.account) { batch throws(DriverError) in
                try await terminate(batch, client: client, context: context)
            }
            if previous != "terminated" { removed.append("instance:\(id)") }
        }
        let cluster = machine.clusterId
        removed += try await cleanups.submit(
            cluster, key: ClusterGroupKey(endpoint: client.endpoint, tenant: context.tenant, cluster: cluster)
        ) { _ throws(DriverError) in
            [cluster: try await removeClusterResourcesIfUnused(cluster, client: client, context: context)]
        }
        return removed
    }

    /// Terminates `ids` and waits until EC2 reports all `terminated` (one `DescribeInstances` per
    /// poll); returns each one's state before (`terminated` when it was gone already: an instance EC2
    /// does not know counts as that).
    func terminate(_ ids: [String], client: EC2Client, context: DriverContext) async throws(DriverError) -> [String: String] {
        var previous: [String: String] = [:]
        do throws(EC2Error) {
            previous = try await client.terminate(ids)
        } catch where error.isNotFound {
            // One unknown id fails the whole request: the others one by one.
            guard ids.count > 1 else { return [ids[0]: "terminated"] }
            for id in ids {
                previous.merge(try await terminate([id], client: client, context: context)) { $1 }
            }
            return previous
        } catch {
            throw error.driverError
        }
        var left = ids.filter { previous[$0] != "terminated" }
        let deadline = ContinuousClock.now + Self.terminationTimeout
        while !left.isEmpty {
            let described = try await describe(left, client: client)
            left = left.filter { described[$0].map { $0.state != "terminated" } ?? false }
            guard !left.isEmpty else { break }
            guard ContinuousClock.now + settings.pollInterval < deadline else {
                throw .timeout("instances \(left.joined(separator: ", ")) were not terminated in time")
            }
            do {
                try await Task.sleep(for: settings.pollInterval)
            } catch {
                throw .timeout("waiting for the termination of \(left.joined(separator: ", ")) was cancelled")
            }
        }
        return Dictionary(uniqueKeysWithValues: ids.map { ($0, previous[$0] ?? "unknown") })
    }

    /// How long termination may take.
    static let terminationTimeout = Duration.seconds(600)

    /// Best-effort removal after a failed create: the machine's instances, the cluster's resources if
    /// unused, the record. Failures are logged (the machine's `rm` tries again).
    func discard(_ machine: MachineRef, client: EC2Client, context: DriverContext) async {
        do throws(DriverError) {
            _ = try await removeInstances(machine, recorded: nil, client: client, context: context)
            try await context.forgetDriverData(for: machine.machineId)
        } catch {
            context.logger.warning("could not remove what the failed create made; rm will try again", metadata: ["error": "\(error)"])
        }
    }

    // MARK: Power

    package func start(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> MachineDetails {
        let (data, client, id) = try await recorded(machine, context: context)
        try await ec2 { () async throws(EC2Error) in try await client.start([id]) }
        return try await becomeReady(machine, data: data, client: client, context: context)
    }

    package func stop(_ machine: MachineRef, timeout: Duration?, context: DriverContext) async throws(DriverError) -> MachineDetails {
        try await stop(machine, force: false, timeout: timeout, context: context)
    }

    package func kill(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> MachineDetails {
        try await stop(machine, force: true, timeout: nil, context: context)
    }

    package func restart(_ machine: MachineRef, timeout: Duration?, context: DriverContext) async throws(DriverError) -> MachineDetails {
        let (data, client, id) = try await recorded(machine, context: context)
        try await ec2 { () async throws(EC2Error) in try await client.reboot([id]) }
        return try await becomeReady(machine, data: data, client: client, context: context)
    }

    private func stop(_ machine: MachineRef, force: Bool, timeout: Duration?, context: DriverContext) async throws(DriverError) -> MachineDetails {
        let (data, client, id) = try await recorded(machine, context: context)
        try await ec2 { () async throws(EC2Error) in try await client.stop([id], force: force) }
        await context.progress(machine, step: force ? "forcing \(id) off" : "stopping \(id)")
        _ = try await wait(for: id, until: ["stopped"], failing: ["terminated"], deadline: .now + (timeout ?? .seconds(600)), client: client)
        return details(machine, data: data, state: .stopped)
    }

    private func recorded(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> (EC2MachineData, EC2Client, String) {
        let data = try await machineData(machine, context: context)
        guard let id = data.instanceId else {
            throw .conflict("machine \(machine.machineId) has no instance yet: its create has not finished")
        }
        return (data, try await client(for: data, machine: machine, context: context), id)
    }

    // MARK: Waiting

    /// Polls the instance until its state is in `targets`; one in `failing` ends the wait with a
    /// conflict, the deadline with a timeout.
    func wait(
        for id: String, until targets: Set<String>, failing: Set<String>, deadline: ContinuousClock.Instant, client: EC2Client
    ) async throws(DriverError) -> EC2Instance {
        while true {
            let instance = try await looks.submit(id, key: client.account) { batch throws(DriverError) in
                let described = try await describe(batch, client: client)
                return Dictionary(uniqueKeysWithValues: batch.map { ($0, described[$0]) })
            }
            if let instance {
                if targets.contains(instance.state) { return instance }
                if failing.contains(instance.state) {
                    throw .conflict("instance \(id) became \(instance.state) while waiting for \(targets.sorted().joined(separator: " or "))")
                }
            }
            guard ContinuousClock.now + settings.pollInterval < deadline else {
                throw .timeout("instance \(id) was not \(targets.sorted().joined(separator: " or ")) in time (last: \(instance?.state ?? "not listed"))")
            }
            do {
                try await Task.sleep(for: settings.pollInterval)
            } catch {
                throw .timeout("waiting for instance \(id) was cancelled")
            }
        }
    }

    /// The instances `ids` by id (EC2 allows 200 filter values per request).
    func describe(_ ids: [String], client: EC2Client) async throws(DriverError) -> [String: EC2Instance] {
        var found: [String: EC2Instance] = [:]
        for start in stride(from: 0, to: ids.count, by: 200) {
            let chunk = Array(ids[start..<min(ids.count, start + 200)])
            let page = try await ec2 { () async throws(EC2Error) in try await client.instances([EC2Filter("instance-id", chunk)]) }
            for instance in page { found[instance.id] = instance }
        }
        return found
    }

    // MARK: States

    package func states(of machines: [MachineRef], context: DriverContext) async throws(DriverError) -> [MachineRef: MachineStateObservation] {
        let now = Date()
        var result: [MachineRef: MachineStateObservation] = [:]
        // Machines by account and endpoint: one DescribeInstances (per 200) for each.
        var accounts: [AccountKey: (client: EC2Client, machines: [(MachineRef, String)])] = [:]
        for machine in machines {
            do throws(DriverError) {
                guard let data = try await context.driverData(EC2MachineData.self, version: EC2MachineData.version, for: machine.machineId) else {
                    result[machine] = MachineStateObservation(machine: machine, state: .notFound, observedAt: now,
                                                              detail: "the ec2 driver has no record of this machine")
                    continue
                }
                guard let id = data.instanceId else {
                    result[machine] = MachineStateObservation(machine: machine, state: .starting, observedAt: now,
                                                              detail: "the instance is being launched")
                    continue
                }
                let credentials = try EC2Credentials(try await context.secrets(for: machine.machineId))
                let key = AccountKey(endpoint: data.endpoint, accessKeyId: credentials.accessKeyId)
                if accounts[key] == nil {
                    accounts[key] = (try client(data.endpoint, credentials, context: context), [])
                }
                accounts[key]?.machines.append((machine, id))
            } catch {
                result[machine] = MachineStateObservation(machine: machine, state: .unknown, observedAt: now, detail: "\(error)")
            }
        }
        for (_, account) in accounts {
            do throws(DriverError) {
                let described = try await describe(account.machines.map(\.1), client: account.client)
                for (machine, id) in account.machines {
                    let state = described[id].map { Self.state(of: $0.state) } ?? .notFound
                    result[machine] = MachineStateObservation(
                        machine: machine, state: state, observedAt: now, detail: "EC2 instance \(id) \(described[id]?.state ?? "not listed")")
                }
            } catch {
                for (machine, _) in account.machines {
                    result[machine] = MachineStateObservation(machine: machine, state: .unknown, observedAt: now, detail: "\(error)")
                }
            }
        }
        return result
    }

    /// One EC2 account at one endpoint.
    private struct AccountKey: Hashable {
        var endpoint: EC2Endpoint
        var accessKeyId: String
    }

    // MARK: Probe

    package func probe(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> ProbeResult {
        let data = try await machineData(machine, context: context)
        guard let host = data.sshHost else {
            return ProbeResult(machine: machine, reachable: false, observedAt: Date(),
                               error: "the instance has no \(data.sshAddress.rawValue) address")
        }
        return try await BrokeredSSH(machine: machine, host: host, port: 22, user: data.user, hostPublicKey: data.hostPublicKey)
            .probe(allowedBy: settings.addresses, context: context)
    }
}
