import Foundation
import Logging
import PazControlPlane
package import PazDriverKit
import PazGuestConfig
package import PazSchemas
import PazSSH

/// Local virtual machines under QEMU, booted from cloud images.
///
/// - create: base image from the verified cache → qcow2 overlay → host identity from the SSH broker
///   → cloud-init seed (or Ignition config) → QEMU daemonized → done when SSH answers with the
///   issued host key (and accepts a broker user certificate). A redelivered create adopts the VM an
///   earlier attempt launched (its pid file and QMP socket); a failed create leaves nothing behind.
/// - start / stop (ACPI power button, then `quit` after the timeout) / restart (`system_reset`) /
///   kill (`quit`) over QMP; state = QMP `query-status` of the live process.
/// - remove: kills QEMU, deletes overlay, seed, sockets, the port reservation and, with the
///   cluster's last machine, the cluster network.
package struct QEMUDriver: Driver {
    package let name: ResourceName = "qemu"
    package let version = "0.1.0"
    package let capabilities: [DriverCapability] = [.create, .remove, .start, .stop, .restart, .kill, .states, .catalog, .probe]
    package var createOptions: [CreateOptionSpec] { QEMUOptions.specs }

    let settings: QEMUSettings
    let images: ImageCache
    let resources: HostResources
    let accelVerdict: AccelVerdict
    /// Bound of one QMP exchange and of a state check.
    let qmpTimeout: Duration = .seconds(5)
    /// Default graceful-stop bound.
    let stopTimeout: Duration = .seconds(60)

    package init(settings: QEMUSettings, images: ImageCache) {
        self.settings = settings
        self.images = images
        resources = HostResources(stateDirectory: settings.stateDirectory)
        accelVerdict = AccelVerdict(probeWindow: settings.kvmProbeWindow)
    }

    // MARK: Create, remove

    package func create(_ request: MachineCreate, context: DriverContext) async throws(DriverError) -> MachineDetails {
        var values = request.options
        if values["image"] == nil, let image = request.image { values["image"] = .string(image) }
        if values["size"] == nil, let size = request.size { values["size"] = .string(size) }
        let options = try QEMUOptions(values)
        do throws(ImageCacheError) {
            try images.check(url: options.imageURL)  // before anything is made
        } catch {
            throw error.driverError
        }
        let files = MachineFiles(stateDirectory: settings.stateDirectory, machine: request.machineId)

        let earlier = try await context.driverData(QEMUMachineData.self, version: QEMUMachineData.version, for: request.machineId)
        if let earlier, QEMUProcess(files: files).runningPID != nil {
            context.logger.info("adopting the VM an earlier attempt of this create launched")
            await context.progress(request.machine, step: "VM already running; waiting for SSH")
            try await waitForSSH(request.machine, data: earlier, context: context)
            return details(request.machine, data: earlier, state: .running)
        }
        do throws(DriverError) {
            // An earlier attempt that got as far as the guest configuration is booted as it was made:
            // its overlay may have booted once already, and cloud-init configures an instance only once.
            let data = if let earlier, files.hasGuestConfig(earlier.guestConfig) {
                earlier
            } else {
                try await prepare(request, options: options, files: files, context: context)
            }
            try await boot(request.machine, data: data, files: files, context: context)
            return details(request.machine, data: data, state: .running)
        } catch {
            context.logger.warning("create failed; removing what it made", metadata: ["error": "\(error)"])
            _ = await discard(request.machine, files: files, context: context)
            _ = try? await context.forgetDriverData(for: request.machineId)
            throw error
        }
    }

    /// Makes everything a first boot needs and records it (before QEMU starts, so a crash from here
    /// on leaves a record that `rm` or a redelivered create finds).
    private func prepare(
        _ request: MachineCreate, options: QEMUOptions, files: MachineFiles, context: DriverContext
    ) async throws(DriverError) -> QEMUMachineData {
        do throws(QEMUError) {
            try files.create()
        } catch {
            throw error.driverError
        }
        await context.progress(request.machine, step: "fetching the image \(options.imageURL)")
        let base: URL
        do throws(ImageCacheError) {
            base = try await images.baseImage(url: options.imageURL, digest: options.imageDigest)
        } catch {
            throw error.driverError
        }
        if !FileManager.default.fileExists(atPath: files.overlay.path) {
            do throws(OverlayError) {
                let overlays = OverlayCreator()
                var disk = options.diskGiB
                if !options.diskIsExplicit {
                    // The size's disk, or the image's when it is larger.
                    let imageGiB = Int(((try await overlays.inspect(base)).virtualSize + (1 << 30) - 1) >> 30)
                    disk = max(disk, imageGiB)
                }
                try await overlays.create(at: files.overlay, base: base, diskGiB: disk)
            } catch {
                throw error.driverError
            }
        }
        let port: Int
        let address: String
        do throws(QEMUError) {
            port = try await resources.sshPort(for: request.machineId)
            address = try await resources.joinCluster(request.clusterId, machine: request.machineId).address
        } catch {
            throw error.driverError
        }
        await context.progress(request.machine, step: "issuing the host identity")
        let identity = try await context.hostIdentity(
            for: request.machine, principals: ["127.0.0.1", "localhost", request.machineName.rawValue, address], of: "the VM")
        let data = QEMUMachineData(
            machineName: request.machineName.rawValue, user: options.sshUser, sshPort: port,
            hostPublicKey: identity.hostPublicKey, clusterAddress: address, cpus: options.cpus, memoryMiB: options.memoryMiB,
            guestConfig: options.guestConfig, accel: options.accel, bootTimeoutSeconds: Int(options.bootTimeout.components.seconds),
            primaryMAC: QEMUCommandLine.macAddress(machine: request.machineId.rawValue, nic: 0),
            clusterMAC: QEMUCommandLine.macAddress(machine: request.machineId.rawValue, nic: 1),
            imageURL: options.imageURL)
        try await writeGuestConfig(data, identity: identity, machine: request.machineId, files: files)
        try await context.saveDriverData(data, version: QEMUMachineData.version, for: request.machineId)
        return data
    }

    private func writeGuestConfig(
        _ data: QEMUMachineData, identity: HostIdentity, machine: MachineID, files: MachineFiles
    ) async throws(DriverError) {
        let spec = GuestSpec(
            instanceId: machine.rawValue, hostname: data.machineName, user: data.user, authorizedKeys: [],
            userCAPublicKey: identity.userCAPublicKey, hostPrivateKey: identity.hostPrivateKey,
            hostPublicKey: identity.hostPublicKey, hostCertificate: identity.hostCertificate,
            interfaces: [
                GuestInterface(name: "eth0", macAddress: data.primaryMAC, addressing: .dhcp),
                GuestInterface(
                    name: "eth1", macAddress: data.clusterMAC,
                    addressing: .static(cidr: "\(data.clusterAddress)/\(ClusterNetwork.prefixLength)")),
            ])
        switch data.guestConfig {
        case .cloudInit:
            _ = try await CloudInitConfig(spec).makeISO(in: files.seedDirectory.path)
        case .ignitionFlatcar, .ignitionFedoraCoreOS:
            try IgnitionConfig(spec).write(to: files.ignition.path)
        }
    }

    package func remove(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> RemovalResult {
        let files = MachineFiles(stateDirectory: settings.stateDirectory, machine: machine.machineId)
        let removed = await discard(machine, files: files, context: context)
        let existed = try await context.forgetDriverData(for: machine.machineId)
        return RemovalResult(
            clusterId: machine.clusterId, machineIds: [machine.machineId],
            removedResources: removed + (existed ? ["driver-data"] : []), alreadyGone: removed.isEmpty && !existed)
    }

    /// Kills the VM and deletes its files and reservations; returns what was there.
    private func discard(_ machine: MachineRef, files: MachineFiles, context: DriverContext) async -> [String] {
        var removed: [String] = []
        let process = QEMUProcess(files: files)
        if process.runningPID != nil {
            await process.quit(qmpTimeout: qmpTimeout)
            removed.append("qemu-process")
        }
        if files.exists {
            do throws(QEMUError) {
                try files.remove()
                removed.append("machine-files")
            } catch {
                context.logger.error("could not delete the VM's files", metadata: ["error": "\(error)"])
            }
        }
        removed += await resources.release(machine.machineId, cluster: machine.clusterId)
        return removed
    }

    // MARK: Power

    package func start(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> MachineDetails {
        var data = try await machineData(machine, context: context)
        let files = MachineFiles(stateDirectory: settings.stateDirectory, machine: machine.machineId)
        if QEMUProcess(files: files).runningPID == nil {
            if await !resources.isBindable(data.sshPort) {
                do throws(QEMUError) {
                    data.sshPort = try await resources.replaceSSHPort(for: machine.machineId)
                } catch {
                    throw error.driverError
                }
                try await context.saveDriverData(data, version: QEMUMachineData.version, for: machine.machineId)
            }
            try await boot(machine, data: data, files: files, context: context)
        } else {
            try await waitForSSH(machine, data: data, context: context)
        }
        return details(machine, data: data, state: .running)
    }

    package func stop(_ machine: MachineRef, timeout: Duration?, context: DriverContext) async throws(DriverError) -> MachineDetails {
        let data = try await machineData(machine, context: context)
        let files = MachineFiles(stateDirectory: settings.stateDirectory, machine: machine.machineId)
        let process = QEMUProcess(files: files)
        if process.runningPID != nil {
            await context.progress(machine, step: "pressing the power button (ACPI)")
            try await qmp(files, "system_powerdown")
            if await !process.waitForExit(timeout: timeout ?? stopTimeout) {
                context.logger.warning("the guest did not power off in time; forcing it off")
                await context.progress(machine, step: "guest did not power off within \(timeout ?? stopTimeout); forcing")
                await process.quit(qmpTimeout: qmpTimeout)
            }
        }
        return details(machine, data: data, state: .stopped)
    }

    package func restart(_ machine: MachineRef, timeout: Duration?, context: DriverContext) async throws(DriverError) -> MachineDetails {
        let data = try await machineData(machine, context: context)
        let files = MachineFiles(stateDirectory: settings.stateDirectory, machine: machine.machineId)
        guard QEMUProcess(files: files).runningPID != nil else { return try await start(machine, context: context) }
        await context.progress(machine, step: "resetting the VM")
        try await qmp(files, "system_reset")
        try await waitForSSH(machine, data: data, context: context)
        return details(machine, data: data, state: .running)
    }

    package func kill(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> MachineDetails {
        let data = try await machineData(machine, context: context)
        let files = MachineFiles(stateDirectory: settings.stateDirectory, machine: machine.machineId)
        await QEMUProcess(files: files).quit(qmpTimeout: qmpTimeout)
        return details(machine, data: data, state: .stopped)
    }

    // MARK: States

    package func states(of machines: [MachineRef], context: DriverContext) async throws(DriverError) -> [MachineRef: MachineStateObservation] {
        await withTaskGroup(of: MachineStateObservation.self) { group in
            for machine in machines {
                group.addTask { await observe(machine, context: context) }
            }
            var results: [MachineRef: MachineStateObservation] = [:]
            for await observation in group { results[observation.machine] = observation }
            return results
        }
    }

    /// The state from the host: no record → not-found; no live QEMU → stopped; else QMP's run state.
    private func observe(_ machine: MachineRef, context: DriverContext) async -> MachineStateObservation {
        func observation(_ state: MachineState, _ detail: String? = nil) -> MachineStateObservation {
            MachineStateObservation(machine: machine, state: state, observedAt: Date(), detail: detail)
        }
        let record: QEMUMachineData?
        do throws(DriverError) {
            record = try await context.driverData(QEMUMachineData.self, version: QEMUMachineData.version, for: machine.machineId)
        } catch {
            return observation(.unknown, "\(error)")
        }
        guard record != nil else { return observation(.notFound, "the qemu driver has no record of this machine") }
        let files = MachineFiles(stateDirectory: settings.stateDirectory, machine: machine.machineId)
        guard QEMUProcess(files: files).runningPID != nil else { return observation(.stopped, "no QEMU process") }
        do throws(QMPError) {
            let status = try await QMPClient(socketPath: files.qmpSocket.path, timeout: qmpTimeout).runState()
            return observation(Self.state(ofRunState: status), "QEMU run state \(status)")
        } catch {
            return observation(.unknown, "\(error)")
        }
    }

    /// QEMU's run states (`RunState` in the QMP schema) as machine states.
    static func state(ofRunState status: String) -> MachineState {
        switch status {
        case "running": .running
        case "shutdown": .stopping
        case "prelaunch", "inmigrate", "restore-vm", "finish-migrate", "postmigrate": .starting
        case "paused", "suspended", "save-vm", "colo": .stopped
        case "internal-error", "io-error", "guest-panicked", "watchdog": .error
        default: .unknown
        }
    }

    // MARK: Catalog

    package func images(_ query: CatalogImagesQuery, context: DriverContext) async throws(DriverError) -> [CatalogImage] {
        ImageCatalog.catalogImages(matching: query)
    }

    package func sizes(_ query: CatalogSizesQuery, context: DriverContext) async throws(DriverError) -> [CatalogSize] {
        SizeCatalog.sizes.map(\.catalogSize)
    }

    package func locations(context: DriverContext) async throws(DriverError) -> [CatalogLocation] {
        [CatalogLocation(id: "local", name: "This host (\(ProcessInfo.processInfo.hostName)), VMs under QEMU")]
    }

    // MARK: Helpers

    func machineData(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> QEMUMachineData {
        guard let data = try await context.driverData(QEMUMachineData.self, version: QEMUMachineData.version, for: machine.machineId)
        else {
            throw .notFound("the qemu driver has no record of machine \(machine.machineId); create it first")
        }
        return data
    }

    func qmp(_ files: MachineFiles, _ command: String) async throws(DriverError) {
        do throws(QMPError) {
            try await QMPClient(socketPath: files.qmpSocket.path, timeout: qmpTimeout).execute(command)
        } catch {
            throw QEMUError.qmp(error).driverError
        }
    }

    func details(_ machine: MachineRef, data: QEMUMachineData, state: MachineState) -> MachineDetails {
        MachineDetails(
            machine: machine, state: state, observedAt: Date(), providerId: "qemu:\(machine.machineId.rawValue)",
            addresses: [MachineAddress(address: "127.0.0.1", scope: .public),
                        MachineAddress(address: data.clusterAddress, scope: .private)],
            ssh: SSHEndpoint(host: "127.0.0.1", port: data.sshPort, user: data.user),
            size: "\(data.cpus) vCPU, \(data.memoryMiB) MiB", image: data.imageURL, location: "local")
    }
}
