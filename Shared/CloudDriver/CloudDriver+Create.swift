import Foundation
import Logging
import PazControlPlane
package import PazDriverKit
import PazGuestConfig
import PazHTTP
import PazOpenSSH
package import PazSchemas

extension CloudDriver {
    package func create(_ request: MachineCreate, context: DriverContext) async throws(DriverError) -> MachineDetails {
        let options = try CloudOptions(request, provider: provider, secrets: try await context.secrets(for: request.machineId))
        let account = CloudAccount(endpoint: options.endpoint, token: options.token)
        let api = try api(account, context: context)
        let labels = CloudLabels(tenant: context.tenant, cluster: request.clusterId, machine: request.machineId)
        // Every attempt records the machine before it creates the server: without a record nothing was made.
        if let earlier = try await context.driverData(CloudMachineData.self, version: CloudMachineData.version, for: request.machineId),
           let server = try await launched(labels, recorded: earlier.serverId, api: api, context: context)
        {
            context.logger.info("adopting the server an earlier attempt made", metadata: ["server": "\(server.id)"])
            await context.progress(request.machine, step: "server \(server.id) already made; waiting for it")
            var data = earlier
            data.serverId = server.id
            try await context.saveDriverData(data, version: CloudMachineData.version, for: request.machineId)
            return try await becomeReady(request.machine, data: data, account: account, api: api, context: context)
        }
        do throws(DriverError) {
            let data = try await launch(request, options: options, account: account, api: api, labels: labels, context: context)
            return try await becomeReady(request.machine, data: data, account: account, api: api, context: context)
        } catch {
            context.logger.warning("create failed; removing what it made", metadata: ["error": "\(error)"])
            await discard(request.machine, account: account, api: api, context: context)
            throw error
        }
    }

    /// Everything up to the server: checks, the cluster's key and firewall, the host identity, the
    /// record, the create.
    private func launch(
        _ request: MachineCreate, options: CloudOptions, account: CloudAccount, api: any CloudAPI, labels: CloudLabels,
        context: DriverContext
    ) async throws(DriverError) -> CloudMachineData {
        await context.progress(request.machine, step: "checking size, image, region and the account's limit")
        let image = try await check(
            options, machines: request.machinesInOperation ?? 1, of: CloudLabels(tenant: context.tenant, cluster: request.clusterId),
            account: account, api: api)

        await context.progress(request.machine, step: "preparing the cluster's SSH key and firewall")
        let clusterKey = ClusterKey(account: account, tenant: context.tenant, cluster: request.clusterId)
        let resources = try await clusterResources.value(clusterKey) { () async throws(DriverError) in
            try await makeClusterResources(request, options: options, api: api, context: context)
        }

        await context.progress(request.machine, step: "issuing the host identity")
        let identity = try await context.hostIdentity(
            for: request.machine, principals: [request.machineName.rawValue], of: "the server")
        var data = CloudMachineData(
            endpoint: options.endpoint, serverId: nil, serverName: request.machineName.rawValue, user: options.sshUser,
            hostPublicKey: identity.hostPublicKey, readyWhen: options.readyWhen,
            bootTimeoutSeconds: Int(options.bootTimeout.components.seconds), size: options.size, image: options.image,
            region: options.region, sshKeyId: resources.sshKey.id, firewallId: resources.firewall.id)
        try await context.saveDriverData(data, version: CloudMachineData.version, for: request.machineId)
        let spec = GuestSpec(
            instanceId: request.machineId.rawValue, hostname: request.machineName.rawValue, user: options.sshUser,
            authorizedKeys: [resources.sshPublicKey], userCAPublicKey: identity.userCAPublicKey,
            hostPrivateKey: identity.hostPrivateKey, hostPublicKey: identity.hostPublicKey,
            hostCertificate: identity.hostCertificate, interfaces: [])
        let userData = try GuestUserData(spec, kind: options.guestConfig ?? CloudProvider.guestConfig(of: image))
            .data(maximumBytes: provider.userDataLimit)
        let server = CloudServerRequest(
            name: request.machineName.rawValue, size: options.size, image: image.id, location: options.region,
            sshKeys: [resources.sshKey.id], userData: String(decoding: userData, as: UTF8.self), labels: labels)

        await context.progress(request.machine, step: "creating the server")
        let made = try await createOnce(server, api: api, context: context)
        data.serverId = made.id
        try await context.saveDriverData(data, version: CloudMachineData.version, for: request.machineId)
        return data
    }

    /// Sends the create until it answers, never making a second server: before every retry (and
    /// after a refusal of the name as taken) it looks for a server labelled with the machine and
    /// adopts it.
    private func createOnce(_ request: CloudServerRequest, api: any CloudAPI, context: DriverContext) async throws(DriverError) -> CloudServer {
        var attempt = 0
        while true {
            attempt += 1
            do throws(CloudAPIError) {
                return try await api.createServer(request).0
            } catch where (error.isRetriable && attempt < settings.retry.maxAttempts) || error.status == 409 {
                context.logger.info("the server create will be retried", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                if error.status != 409 {
                    try await pause(settings.retry.backoff(afterAttempt: attempt), waitingFor: "the provider to take the create")
                }
                if let found = try await launched(request.labels, recorded: nil, api: api, context: context) { return found }
                if error.status == 409 { throw error.driverError }
            } catch {
                throw error.driverError
            }
        }
    }

    /// The server an earlier attempt made: the recorded one if the provider still has it, else one
    /// labelled with the machine — looked for during the listing grace, since listings lag behind creates.
    func launched(
        _ labels: CloudLabels, recorded: String?, api: any CloudAPI, context: DriverContext
    ) async throws(DriverError) -> CloudServer? {
        if let recorded, let server = try await cloud({ () async throws(CloudAPIError) in try await api.server(id: recorded) }) {
            return server
        }
        let deadline = ContinuousClock.now + settings.listingGrace
        var intervals = PollIntervals(upTo: settings.pollInterval)
        while true {
            let found = try await cloud { () async throws(CloudAPIError) in try await api.servers(labelled: labels) }
            if let server = found.first { return server }
            guard ContinuousClock.now < deadline else { return nil }
            try await pause(intervals.take(), waitingFor: "the provider's listing")
        }
    }

    /// Finds or makes the cluster's SSH key (the `authorized-key` option, or a generated key whose
    /// private half is dropped at once) and its firewall.
    private func makeClusterResources(
        _ request: MachineCreate, options: CloudOptions, api: any CloudAPI, context: DriverContext
    ) async throws(DriverError) -> ClusterResources {
        let labels = CloudLabels(tenant: context.tenant, cluster: request.clusterId)
        let name = Self.clusterResourceName(request.clusterId)
        let publicKey = options.authorizedKey
            ?? OpenSSHPrivateKey.generate(.ed25519).publicKey.line(comment: name)
        let (key, heldKey) = try await cloud { () async throws(CloudAPIError) in
            try await api.sshKey(named: name, publicKey: publicKey, labels: labels)
        }
        let firewall = try await cloud { () async throws(CloudAPIError) in
            try await api.firewall(named: name, sshCIDR: options.sshCIDR, labels: labels)
        }
        return ClusterResources(sshKey: key, sshPublicKey: heldKey, firewall: firewall)
    }

    /// Waits until the server runs and, with `ready-when=ssh`, answers SSH with the issued host key;
    /// records its addresses (they may change at every start).
    func becomeReady(
        _ machine: MachineRef, data: CloudMachineData, account: CloudAccount, api: any CloudAPI, context: DriverContext
    ) async throws(DriverError) -> MachineDetails {
        guard let id = data.serverId else { throw .internal("no server recorded for \(machine.machineId)") }
        let deadline = ContinuousClock.now + .seconds(data.bootTimeoutSeconds)
        await context.progress(machine, step: "waiting for server \(id) to run")
        let server = try await wait(for: id, until: .running, deadline: deadline, account: account, api: api, context: context)
        var data = data
        data.publicIp = server.publicIPv4
        data.privateIp = server.privateIPv4
        try await context.saveDriverData(data, version: CloudMachineData.version, for: machine.machineId)
        if data.readyWhen == .ssh {
            guard let host = data.publicIp else {
                throw .conflict("server \(id) has no public IPv4 address to reach SSH on")
            }
            try await BrokeredSSH(machine: machine, host: host, port: 22, user: data.user, hostPublicKey: data.hostPublicKey)
                .waitUntilReady(timeout: max(.seconds(1), deadline - .now), allowedBy: settings.addresses, context: context)
        }
        return details(machine, data: data, state: .running)
    }
}
