import Foundation
import Logging
package import PazDriverKit
package import PazSchemas

extension QEMUDriver {
    /// Launches QEMU on the machine's overlay and waits until SSH answers with the issued host key.
    /// Under `auto` the first KVM boot is watched (``AccelVerdict``) and redone under TCG when QEMU
    /// refuses to start under KVM or the kernel shows no progress.
    func boot(_ machine: MachineRef, data: QEMUMachineData, files: MachineFiles, context: DriverContext) async throws(DriverError) {
        var data = data
        let network: ClusterNetwork
        do throws(QEMUError) {
            network = try await resources.ensureSwitch(machine.clusterId)
        } catch {
            throw error.driverError
        }
        let (accel, watch) = await accelVerdict.choose(data.accel)
        await context.progress(machine, step: "starting QEMU (\(accel.rawValue))")
        var launched = accel
        do throws(DriverError) {
            try await launch(machine, data: &data, accel: accel, network: network, files: files, context: context)
        } catch {
            // auto: a KVM that refuses to start (e.g. nested KVM failing to set MSRs) means TCG.
            guard watch else { throw error }
            context.logger.warning("QEMU failed to start under KVM; booting under TCG from now on", metadata: ["error": "\(error)"])
            await context.progress(machine, step: "KVM does not start here; booting under TCG instead")
            await accelVerdict.record(kvmWorks: false)
            try await launch(machine, data: &data, accel: .tcg, network: network, files: files, context: context)
            launched = .tcg
        }
        if watch && launched == .kvm {
            if await consoleShowsProgress(files, within: accelVerdict.probeWindow) {
                await accelVerdict.record(kvmWorks: true)
            } else {
                context.logger.warning(
                    "no kernel output within the KVM probe window: KVM hangs guests on this host; booting under TCG from now on",
                    metadata: ["window": "\(accelVerdict.probeWindow)"])
                await context.progress(machine, step: "KVM shows no progress here; booting under TCG instead")
                await accelVerdict.record(kvmWorks: false)
                await QEMUProcess(files: files).quit(qmpTimeout: qmpTimeout)
                try await launch(machine, data: &data, accel: .tcg, network: network, files: files, context: context)
            }
        }
        await context.progress(machine, step: "booting; waiting for SSH on 127.0.0.1:\(data.sshPort)")
        try await waitForSSH(machine, data: data, context: context)
    }

    /// Starts the QEMU process (once more on a new port when the reserved one was taken meanwhile).
    private func launch(
        _ machine: MachineRef, data: inout QEMUMachineData, accel: QEMUAccel, network: ClusterNetwork, files: MachineFiles,
        context: DriverContext
    ) async throws(DriverError) {
        for attempt in 1...2 {
            let commandLine = QEMUCommandLine(
                name: data.machineName, accel: accel, cpus: data.cpus, memoryMiB: data.memoryMiB, files: files,
                guestConfig: data.guestConfig, sshPort: data.sshPort, primaryMAC: data.primaryMAC, clusterMAC: data.clusterMAC,
                clusterSwitch: network.switchSocket)
            try? FileManager.default.removeItem(at: files.console)
            do throws(QEMUError) {
                try await QEMUProcess(files: files).launch(
                    binary: settings.binary, arguments: commandLine.arguments, niceness: settings.niceness)
                return
            } catch {
                guard attempt == 1, case .launchFailed(_, let log) = error, log.contains("host forwarding") else {
                    throw error.driverError
                }
                context.logger.warning("the SSH forward port was taken; reserving another", metadata: ["port": "\(data.sshPort)"])
                do throws(QEMUError) {
                    data.sshPort = try await resources.replaceSSHPort(for: machine.machineId)
                } catch {
                    throw error.driverError
                }
                try await context.saveDriverData(data, version: QEMUMachineData.version, for: machine.machineId)
            }
        }
    }

    /// Whether the serial console shows the kernel running within `window`.
    private func consoleShowsProgress(_ files: MachineFiles, within window: Duration) async -> Bool {
        let deadline = ContinuousClock.now + window
        while ContinuousClock.now < deadline {
            if let console = try? String(contentsOf: files.console, encoding: .utf8), AccelVerdict.consoleShowsProgress(console) {
                return true
            }
            try? await Task.sleep(for: .milliseconds(250))
        }
        return false
    }

    /// Waits until the VM's sshd answers with exactly the issued host key and accepts a broker
    /// user certificate; fails at once when QEMU exits meanwhile.
    func waitForSSH(_ machine: MachineRef, data: QEMUMachineData, context: DriverContext) async throws(DriverError) {
        let timeout = Duration.seconds(data.bootTimeoutSeconds)
        let ssh = sshTarget(machine, data: data)
        let files = MachineFiles(stateDirectory: settings.stateDirectory, machine: machine.machineId)
        let outcome: Result<Void, DriverError> = await withTaskGroup(of: Result<Void, DriverError>?.self) { group in
            group.addTask {
                do throws(DriverError) {
                    try await ssh.waitUntilReady(timeout: timeout, context: context)
                    return .success(())
                } catch {
                    return .failure(error)
                }
            }
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: .seconds(1))
                    if QEMUProcess(files: files).runningPID == nil && !Task.isCancelled {
                        let console = (try? String(contentsOf: files.console, encoding: .utf8)) ?? ""
                        return .failure(.conflict(
                            "QEMU exited while the VM booted; console tail: \(console.suffix(600))"))
                    }
                }
                return nil
            }
            defer { group.cancelAll() }
            while let next = await group.next() {
                if let next { return next }
            }
            return .failure(.internal("SSH wait ended without a result"))
        }
        try outcome.get()
    }

    /// The VM's forwarded SSH port, verified against its issued host key.
    func sshTarget(_ machine: MachineRef, data: QEMUMachineData) -> BrokeredSSH {
        BrokeredSSH(machine: machine, host: "127.0.0.1", port: data.sshPort, user: data.user, hostPublicKey: data.hostPublicKey)
    }

    // MARK: Probe

    /// Runs ``ProbeScript`` over SSH with a 60 s broker certificate, the host verified against its
    /// issued key. An unreachable VM is a result (`reachable: false`), not an error.
    package func probe(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> ProbeResult {
        try await sshTarget(machine, data: try await machineData(machine, context: context)).probe(context: context)
    }
}
