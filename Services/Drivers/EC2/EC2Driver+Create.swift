import Foundation
import Logging
import PazCloudDriver
import PazControlPlane
package import PazDriverKit
import PazGuestConfig
import PazHTTP
package import PazSchemas

extension EC2Driver {
    package func create(_ request: MachineCreate, context: DriverContext) async throws(DriverError) -> MachineDetails {
        let options = try EC2Options(request, secrets: try await context.secrets(for: request.machineId))
        let client = try client(options.endpoint, options.credentials, context: context)
        // Every attempt records the machine before it launches: without a record nothing was launched.
        if let earlier = try await context.driverData(EC2MachineData.self, version: EC2MachineData.version, for: request.machineId),
           let instance = try await ec2({ () async throws(EC2Error) in
               try await client.instances(EC2Tags.aliveInstances(of: request.machineId))
           }).first
        {
            context.logger.info("adopting the instance an earlier attempt launched", metadata: ["ec2.instance": "\(instance.id)"])
            await context.progress(request.machine, step: "instance \(instance.id) already launched; waiting for it")
            var data = earlier
            data.instanceId = instance.id
            return try await becomeReady(request.machine, data: data, client: client, context: context)
        }
        do throws(DriverError) {
            let data = try await launch(request, options: options, client: client, context: context)
            return try await becomeReady(request.machine, data: data, client: client, context: context)
        } catch {
            context.logger.warning("create failed; removing what it made", metadata: ["error": "\(error)"])
            await discard(request.machine, client: client, context: context)
            throw error
        }
    }

    /// Everything up to `RunInstances`: image, DryRun, security group, host identity, record, launch.
    private func launch(
        _ request: MachineCreate, options: EC2Options, client: EC2Client, context: DriverContext
    ) async throws(DriverError) -> EC2MachineData {
        let (image, checked) = try await checkedLaunch(request, options: options, client: client, context: context)
        var launch = checked
        await context.progress(request.machine, step: "preparing the cluster's security group")
        let groupKey = ClusterGroupKey(endpoint: options.endpoint, tenant: context.tenant, cluster: request.clusterId)
        let group = try await groups.value(groupKey) { () async throws(DriverError) in
            try await makeGroup(request, options: options, client: client, context: context)
        }
        launch.securityGroupIds = [group]

        await context.progress(request.machine, step: "issuing the host identity")
        let identity = try await context.hostIdentity(
            for: request.machine, principals: [request.machineName.rawValue], of: "the instance")
        var data = EC2MachineData(
            endpoint: options.endpoint, instanceId: nil, securityGroupId: group, machineName: request.machineName.rawValue,
            user: options.sshUser, hostPublicKey: identity.hostPublicKey, readyWhen: options.readyWhen,
            sshAddress: options.sshAddress, bootTimeoutSeconds: Int(options.bootTimeout.components.seconds),
            instanceType: options.instanceType, imageId: image.id, availabilityZone: options.availabilityZone)
        try await context.saveDriverData(data, version: EC2MachineData.version, for: request.machineId)
        launch.userData = try userData(request, identity: identity, user: options.sshUser,
                                       flavour: options.guestConfig ?? Self.guestConfig(of: image))

        await context.progress(request.machine, step: "launching the instance")
        let instance = try await runOnce(launch, groupKey: groupKey, request: request, options: options, client: client, context: context)
        data.instanceId = instance.id
        data.availabilityZone = instance.availabilityZone ?? data.availabilityZone
        try await context.saveDriverData(data, version: EC2MachineData.version, for: request.machineId)
        return data
    }

    /// The machine's image and its `RunInstances` (no security group, no user-data yet), checked with
    /// `DryRun=true` — credentials, permissions, AMI, instance type, quota — before anything is spent.
    /// The machines of one launch type share the image lookup and the check for a minute.
    func checkedLaunch(
        _ request: MachineCreate, options: EC2Options, client: EC2Client, context: DriverContext
    ) async throws(DriverError) -> (EC2Image, EC2Launch) {
        await context.progress(request.machine, step: "resolving the image")
        let imageKey = ImageKey(endpoint: options.endpoint, credentials: options.credentials, choice: options.image)
        let image = try await images.value(imageKey) { () async throws(DriverError) in
            try await resolveImage(options.image, client: client)
        }
        let launch = EC2Launch(
            imageId: image.id, instanceType: options.instanceType, clientToken: request.machineId.rawValue, userData: Data(),
            securityGroupIds: [], subnetId: options.subnetId, availabilityZone: options.availabilityZone,
            rootVolume: options.rootVolumeGiB.map { (image.rootDeviceName ?? "/dev/xvda", $0) },
            tags: EC2Tags.machine(tenant: context.tenant, request))
        await context.progress(request.machine, step: "checking the launch with DryRun")
        let launchKey = LaunchKey(
            endpoint: options.endpoint, credentials: options.credentials, imageId: image.id,
            instanceType: options.instanceType, subnetId: options.subnetId, availabilityZone: options.availabilityZone,
            rootVolumeGiB: options.rootVolumeGiB)
        let check = launch.query
        _ = try await checkedLaunches.value(launchKey) { () async throws(DriverError) in
            if let refused = await client.dryRun(check) { throw refused.driverError }
            return true
        }
        return (image, launch)
    }

    /// Sends `RunInstances` until it answers, never making a second instance: before every retry it
    /// looks for an instance tagged with the machine id (moto ignores `ClientToken`) and adopts it.
    private func runOnce(
        _ launch: EC2Launch, groupKey: ClusterGroupKey, request: MachineCreate, options: EC2Options, client: EC2Client,
        context: DriverContext
    ) async throws(DriverError) -> EC2Instance {
        var launch = launch
        var attempt = 0
        var regrouped = false
        while true {
            attempt += 1
            do throws(EC2Error) {
                return try await client.run(launch)
            } catch where error.code == "InvalidGroup.NotFound" && !regrouped {
                // The last machine of the cluster was removed meanwhile, and its group with it.
                regrouped = true
                await groups.forget(groupKey)
                launch.securityGroupIds = [try await groups.value(groupKey) { () async throws(DriverError) in
                    try await makeGroup(request, options: options, client: client, context: context)
                }]
            } catch where error.isRetriable && attempt < settings.retry.maxAttempts {
                context.logger.info("RunInstances will be retried", metadata: ["error": "\(error)", "attempt": "\(attempt)"])
                do {
                    try await Task.sleep(for: settings.retry.backoff(afterAttempt: attempt))
                } catch {
                    throw .timeout("the create was cancelled while EC2 was retried")
                }
                let found = try await ec2 { () async throws(EC2Error) in
                    try await client.instances(EC2Tags.aliveInstances(of: request.machineId))
                }
                if let instance = found.first { return instance }
            } catch {
                throw error.driverError
            }
        }
    }

    /// Waits until the instance runs and, with `ready-when=ssh`, answers SSH with the issued host key;
    /// records its addresses (they may change at every start).
    func becomeReady(
        _ machine: MachineRef, data: EC2MachineData, client: EC2Client, context: DriverContext
    ) async throws(DriverError) -> MachineDetails {
        guard let id = data.instanceId else { throw .internal("no instance recorded for \(machine.machineId)") }
        let deadline = ContinuousClock.now + .seconds(data.bootTimeoutSeconds)
        await context.progress(machine, step: "waiting for instance \(id) to run")
        let instance = try await wait(for: id, until: ["running"], failing: ["terminated", "shutting-down", "stopped"],
                                      deadline: deadline, client: client)
        var data = data
        data.privateIp = instance.privateIp
        data.publicIp = instance.publicIp
        data.availabilityZone = instance.availabilityZone ?? data.availabilityZone
        try await context.saveDriverData(data, version: EC2MachineData.version, for: machine.machineId)
        if data.readyWhen == .ssh {
            guard let host = data.sshHost else {
                throw .conflict("instance \(id) has no \(data.sshAddress.rawValue) address to reach SSH on: launch it into a "
                    + "subnet that assigns public addresses, or use ssh-address=private")
            }
            try await BrokeredSSH(machine: machine, host: host, port: 22, user: data.user, hostPublicKey: data.hostPublicKey)
                .waitUntilReady(timeout: max(.seconds(1), deadline - .now), allowedBy: settings.addresses, context: context)
        }
        return details(machine, data: data, state: .running)
    }

    /// What a DryRun of `RunInstances` checks: the account, the image, the instance type, where.
    struct LaunchKey: Hashable, Sendable {
        var endpoint: EC2Endpoint
        /// The whole credentials: a DryRun passed with one secret says nothing of another.
        var credentials: EC2Credentials
        var imageId: String
        var instanceType: String
        var subnetId: String?
        var availabilityZone: String?
        var rootVolumeGiB: Int?
    }

    /// An image choice of one account at one endpoint.
    struct ImageKey: Hashable, Sendable {
        var endpoint: EC2Endpoint
        var credentials: EC2Credentials
        var choice: EC2Options.ImageChoice
    }

    /// The AMI of `choice`: checked to exist (a search takes the newest match).
    private func resolveImage(_ choice: EC2Options.ImageChoice, client: EC2Client) async throws(DriverError) -> EC2Image {
        switch choice {
        case .id(let id):
            let found = try await ec2 { () async throws(EC2Error) in try await client.images(ids: [id]) }
            guard let image = found.first(where: { $0.id == id }) else {
                throw .invalidArgument(field: "ami", message: "AMI \(id) does not exist in \(client.endpoint.region) (or is not visible to this account)")
            }
            return image
        case .search(let name, let owner):
            let found = try await ec2 { () async throws(EC2Error) in
                try await client.images(owners: owner.map { [$0] } ?? [], filters: [EC2Filter("name", [name]), EC2Filter("state", ["available"])])
            }
            guard let newest = found.max(by: { ($0.creationDate ?? "") < ($1.creationDate ?? "") }) else {
                throw .invalidArgument(field: "image-name", message: "no available image named '\(name)'"
                    + (owner.map { " owned by \($0)" } ?? "") + " in \(client.endpoint.region)")
            }
            return newest
        }
    }

    /// Ignition for the CoreOS family (Flatcar, Fedora CoreOS), cloud-init for everything else.
    static func guestConfig(of image: EC2Image) -> GuestConfigKind {
        let name = "\(image.name ?? "") \(image.description ?? "")".lowercased()
        if name.contains("flatcar") { return .ignitionFlatcar }
        if name.contains("fedora-coreos") || name.contains("fedora coreos") { return .ignitionFedoraCoreOS }
        return .cloudInit
    }

    /// The first-boot configuration: the same content the QEMU driver gives its VMs, without network
    /// configuration (EC2's DHCP does that).
    private func userData(
        _ request: MachineCreate, identity: HostIdentity, user: String, flavour: GuestConfigKind
    ) throws(DriverError) -> Data {
        let spec = GuestSpec(
            instanceId: request.machineId.rawValue, hostname: request.machineName.rawValue, user: user, authorizedKeys: [],
            userCAPublicKey: identity.userCAPublicKey, hostPrivateKey: identity.hostPrivateKey,
            hostPublicKey: identity.hostPublicKey, hostCertificate: identity.hostCertificate, interfaces: [])
        return try GuestUserData(spec, kind: flavour).data(maximumBytes: GuestUserData.ec2MaximumBytes)
    }
}
