import Foundation
import PazControlPlane
import Logging
package import PazDriverKit
package import PazSchemas
import PazSSH

/// Docker Machine's generic driver: machines that already exist, reached over SSH.
///
/// - create: checks the options, connects verifying the host key (or records it with
///   `accept-new-host-key`), runs `true`, and keeps host/port/user/host key in the driver data.
///   A redelivered create connects again with the key recorded the first time.
/// - states: one SSH handshake + authentication per machine, concurrently (at most
///   ``stateConcurrency``), each within ``stateTimeout``: success → `running`; connection refused →
///   `stopped` (the host answers but sshd does not: it is shutting down or booting); a wrong host
///   key or refused key → `error`; no answer in time / unreachable → `unknown` (we cannot tell a
///   powered-off host from a network problem).
/// - stop / restart / kill: run the configured command over SSH; the connection dropping while the
///   machine shuts down counts as success.
/// - start: unsupported (nothing can power on an existing machine over SSH).
/// - remove: forgets the driver data; nothing on the host changes.
///
/// Every SSH connection (create, remove, power, probe, states) is preceded by the operator's
/// ``AddressPolicy`` check of the machine's address; preCreateCheck checks it too.
package struct GenericDriver: Driver {
    package let name: ResourceName = "generic"
    package let version = "0.1.0"
    package let capabilities: [DriverCapability] = [.create, .remove, .stop, .restart, .kill, .states, .catalog, .precheck, .probe]
    package var createOptions: [CreateOptionSpec] { GenericOptions.specs }

    /// Connect + authenticate bound of a state check.
    package var stateTimeout: Duration
    /// How many machines ``states(of:context:)`` checks at once.
    package var stateConcurrency: Int
    /// Connect bound of create and the power commands.
    package var connectTimeout: Duration
    /// How long a power command may run.
    package var commandTimeout: Duration
    /// Which machine addresses the driver may connect to.
    package var addresses: AddressPolicy

    package init(stateTimeout: Duration = .seconds(5), stateConcurrency: Int = 16,
                 connectTimeout: Duration = .seconds(15), commandTimeout: Duration = .seconds(60),
                 addresses: AddressPolicy = AddressPolicy(.generic)) {
        self.addresses = addresses
        self.stateTimeout = stateTimeout
        self.stateConcurrency = max(1, stateConcurrency)
        self.connectTimeout = connectTimeout
        self.commandTimeout = commandTimeout
    }

    // MARK: Create, remove

    package func preCreateCheck(_ machines: [MachineCreate], context: DriverContext) async throws(DriverError) -> PreCreateCheckResult {
        var warnings: [String] = []
        for machine in machines {
            let options = try GenericOptions(machine.options)
            try checkAddress(options.ipAddress)
            if options.sshHostKey == nil {
                warnings.append("\(machine.machineName): accept-new-host-key trusts whatever host key \(options.ipAddress) presents at create")
            }
        }
        return PreCreateCheckResult(warnings: warnings)
    }

    package func create(_ request: MachineCreate, context: DriverContext) async throws(DriverError) -> MachineDetails {
        let options = try GenericOptions(request.options)
        try checkAddress(options.ipAddress)  // before anything; connect checks again, as for every connection
        let credentials = try await credentials(user: options.sshUser, machine: request.machineId, context: context)
        let earlier = try await context.driverData(GenericMachineData.self, version: GenericMachineData.version, for: request.machineId)
        let policy: SSHHostKeyPolicy
        if let line = options.sshHostKey {
            policy = .expect(try publicKey(line, field: "ssh-host-key"))
        } else if let earlier, earlier.host == options.ipAddress, earlier.port == options.sshPort {
            policy = .expect(try publicKey(earlier.hostKey, field: "ssh-host-key"))  // adopt the first attempt's key
        } else {
            policy = .acceptAnyAndReport
        }
        await context.progress(request.machine, step: "connecting to \(options.ipAddress):\(options.sshPort)")
        let session = try await connect(options.ipAddress, options.sshPort, policy, credentials, connectTimeout, context)
        let hostKey = session.hostKey.openSSHLine
        let result: SSHExecResult
        do throws(SSHError) {
            result = try await session.exec("true", timeout: commandTimeout)
        } catch {
            await session.close()
            throw Self.driverError(error, user: options.sshUser)
        }
        guard result.exitStatus == 0 else {
            await session.close()
            throw .conflict(
                "'true' exited with status \(result.exitStatus) on \(options.ipAddress) as \(options.sshUser): "
                    + "the account cannot run commands (\(result.stderrText.prefix(200)))")
        }
        var data = GenericMachineData(
            host: options.ipAddress, port: options.sshPort, user: options.sshUser, hostKey: hostKey,
            stopCommand: options.stopCommand, restartCommand: options.restartCommand, killCommand: options.killCommand)
        if options.installSSHTrust {
            do throws(DriverError) {
                try await installTrust(options, request: request, session: session, data: &data, context: context)
            } catch {
                await session.close()
                throw error
            }
        }
        await session.close()
        try await context.saveDriverData(data, version: GenericMachineData.version, for: request.machineId)
        return details(request.machine, host: options.ipAddress, port: options.sshPort, user: options.sshUser, state: .running)
    }

    /// Removes the installed SSH trust (best effort: an unreachable machine is still forgotten here)
    /// and the driver data.
    package func remove(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> RemovalResult {
        var removed: [String] = []
        if let data = try? await machineData(machine, context: context), let files = data.trustFiles, !files.isEmpty {
            do throws(DriverError) {
                let credentials = try await credentials(user: data.user, machine: machine.machineId, context: context)
                let session = try await connect(data.host, data.port, try hostKeyPolicy(data), credentials, connectTimeout, context)
                let installer = SSHTrustInstaller(
                    sudo: data.sudo ?? "sudo", reloadCommand: data.sshdReloadCommand ?? GenericOptions.defaultReloadCommand,
                    timeout: commandTimeout)
                do throws(DriverError) {
                    try await installer.remove(files, over: session)
                } catch {
                    await session.close()
                    throw error
                }
                await session.close()
                removed.append("ssh-trust")
            } catch {
                context.logger.warning("could not remove the SSH trust from the machine; forgetting it anyway",
                                       metadata: ["error": "\(error)"])
            }
        }
        let existed = try await context.forgetDriverData(for: machine.machineId)
        if existed { removed.append("driver-data") }
        return RemovalResult(clusterId: machine.clusterId, machineIds: [machine.machineId],
                             removedResources: removed, alreadyGone: !existed)
    }

    /// Asks the broker for the machine's host identity and installs it with the tenant's user CA.
    private func installTrust(
        _ options: GenericOptions, request: MachineCreate, session: SSHSession, data: inout GenericMachineData,
        context: DriverContext
    ) async throws(DriverError) {
        guard let broker = context.sshBroker else {
            throw .providerUnavailable("no SSH broker to issue the host certificate; retry, or set install-ssh-trust=false")
        }
        await context.progress(request.machine, step: "installing the SSH CA trust and host certificate")
        let identity: HostIdentity
        do {
            identity = try await broker.hostIdentity(tenant: context.tenant, machine: request.machine, principals: [options.ipAddress, request.machineName.rawValue])
        } catch {
            throw .providerUnavailable("\(error)")
        }
        let installer = SSHTrustInstaller(sudo: options.sudo, reloadCommand: options.sshdReloadCommand, timeout: commandTimeout)
        data.trustFiles = try await installer.install(
            identity, machine: request.machineId, directory: options.sshTrustDirectory, over: session)
        data.certifiedHostKey = identity.hostPublicKey
        data.sudo = options.sudo
        data.sshdReloadCommand = options.sshdReloadCommand
    }

    /// The recorded host key, and the certified one once installed (sshd may present either).
    private func hostKeyPolicy(_ data: GenericMachineData) throws(DriverError) -> SSHHostKeyPolicy {
        let recorded = try publicKey(data.hostKey, field: "ssh-host-key")
        guard let certified = data.certifiedHostKey else { return .expect(recorded) }
        return .expect(recorded, try publicKey(certified, field: "ssh-host-key"))
    }

    // MARK: Power

    package func start(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> MachineDetails {
        throw .unsupported(
            operation: "start",
            reason: "the generic driver manages existing machines over SSH and cannot power one on; start it by "
                + "other means (its console, IPMI, wake-on-LAN) and its state will show running once SSH answers")
    }

    package func stop(_ machine: MachineRef, timeout: Duration?, context: DriverContext) async throws(DriverError) -> MachineDetails {
        try await power(machine, \.stopCommand, name: "stop-command", state: .stopped, timeout: timeout, context: context)
    }

    package func restart(_ machine: MachineRef, timeout: Duration?, context: DriverContext) async throws(DriverError) -> MachineDetails {
        try await power(machine, \.restartCommand, name: "restart-command", state: .starting, timeout: timeout, context: context)
    }

    package func kill(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> MachineDetails {
        try await power(machine, \.killCommand, name: "kill-command", state: .stopped, timeout: nil, context: context)
    }

    private func power(
        _ machine: MachineRef, _ command: KeyPath<GenericMachineData, String>, name: String, state: MachineState,
        timeout: Duration?, context: DriverContext
    ) async throws(DriverError) -> MachineDetails {
        let data = try await machineData(machine, context: context)
        let credentials = try await credentials(user: data.user, machine: machine.machineId, context: context)
        let session = try await connect(
            data.host, data.port, try hostKeyPolicy(data), credentials, connectTimeout, context)
        let result: SSHExecResult?
        do throws(SSHError) {
            result = try await session.exec(data[keyPath: command], timeout: timeout ?? commandTimeout)
        } catch {
            if case .timedOut = error {
                await session.close()
                throw .timeout("\(name) did not finish on \(data.host) within \(timeout ?? commandTimeout)")
            }
            // The machine going down may drop the session before the command reports: that is success.
            context.logger.info("SSH session ended during \(name); the machine is going down", metadata: ["error": "\(error)"])
            result = nil
        }
        await session.close()
        // A shutdown may also kill the command with a signal: success too.
        if let result, result.exitStatus != 0, result.exitSignal == nil {
            throw .conflict("\(name) exited with status \(result.exitStatus) on \(data.host): \(result.stderrText.prefix(300))")
        }
        return details(machine, host: data.host, port: data.port, user: data.user, state: state)
    }

    // MARK: Probe

    /// Runs ``ProbeScript`` over SSH, the host verified against its recorded (or certified) key. Where
    /// the CA trust is installed it logs in with a short-lived ECDSA certificate from the SSH broker
    /// (libssh2 1.10 cannot use Ed25519 certificates), else with the machine's key. An unreachable
    /// machine is a result (`reachable: false` with the reason), not an error.
    package func probe(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> ProbeResult {
        let data = try await machineData(machine, context: context)
        let credentials = try await probeCredentials(data, machine: machine, context: context)
        let session: SSHSession
        do {
            session = try await connect(
                data.host, data.port, try hostKeyPolicy(data), credentials, connectTimeout, context)
        } catch {
            return ProbeResult(machine: machine, reachable: false, observedAt: Date(), error: "\(error)")
        }
        let result: SSHExecResult
        do throws(SSHError) {
            result = try await session.exec(ProbeScript.command, timeout: commandTimeout)
        } catch {
            await session.close()
            return ProbeResult(machine: machine, reachable: false, observedAt: Date(), error: "\(error)")
        }
        await session.close()
        return ProbeScript.parse(result.stdoutText, machine: machine)
    }

    /// Broker-issued credentials when the machine trusts the tenant's user CA, else the machine's key.
    private func probeCredentials(
        _ data: GenericMachineData, machine: MachineRef, context: DriverContext
    ) async throws(DriverError) -> SSHCredentials {
        guard data.trustFiles != nil, let broker = context.sshBroker else {
            return try await credentials(user: data.user, machine: machine.machineId, context: context)
        }
        let issued: UserCredentials
        do {
            issued = try await broker.userCredentials(
                tenant: context.tenant, UserCredentialsRequest(machine: machine, principal: data.user, ttlSeconds: 60, keyType: .ecdsa))
        } catch {
            throw .providerUnavailable("the SSH broker issued no probe credentials: \(error)")
        }
        guard let key = issued.privateKey else { throw .internal("the SSH broker returned no private key") }
        do {
            return SSHCredentials(user: data.user, privateKey: try SSHPrivateKey(pem: key.value), publicKey: issued.certificate)
        } catch {
            throw .internal("the SSH broker's key is unusable: \(error)")
        }
    }

    // MARK: States, catalog

    package func states(of machines: [MachineRef], context: DriverContext) async throws(DriverError) -> [MachineRef: MachineStateObservation] {
        await withTaskGroup(of: MachineStateObservation.self) { group in
            var results: [MachineRef: MachineStateObservation] = [:]
            var pending = machines[...]
            for _ in 0..<stateConcurrency {
                guard let machine = pending.popFirst() else { break }
                group.addTask { await observe(machine, context: context) }
            }
            for await observation in group {
                results[observation.machine] = observation
                if let machine = pending.popFirst() { group.addTask { await observe(machine, context: context) } }
            }
            return results
        }
    }

    private func observe(_ machine: MachineRef, context: DriverContext) async -> MachineStateObservation {
        func observation(_ state: MachineState, _ detail: String? = nil) -> MachineStateObservation {
            MachineStateObservation(machine: machine, state: state, observedAt: Date(), detail: detail)
        }
        do throws(DriverError) {
            guard let data = try await context.driverData(
                GenericMachineData.self, version: GenericMachineData.version, for: machine.machineId)
            else { return observation(.notFound, "the generic driver has no record of this machine") }
            do throws(AddressPolicyError) {
                try addresses.check(data.host)
            } catch {
                return observation(.error, "\(error)")
            }
            let credentials = try await credentials(user: data.user, machine: machine.machineId, context: context)
            let policy = try hostKeyPolicy(data)
            do throws(SSHError) {
                let session = try await SSHSession.connect(
                    host: data.host, port: data.port, hostKeyPolicy: policy, credentials: credentials,
                    timeouts: .init(connect: stateTimeout, operation: stateTimeout), logger: context.logger)
                await session.close()
                return observation(.running)
            } catch {
                switch error {
                case .connectionRefused:
                    return observation(.stopped, "\(data.host):\(data.port) refuses SSH connections")
                case .hostKeyMismatch, .authenticationFailed:
                    return observation(.error, "\(error)")
                default:
                    return observation(.unknown, "\(error)")
                }
            }
        } catch {
            return observation(.unknown, "\(error)")
        }
    }

    package func images(_ query: CatalogImagesQuery, context: DriverContext) async throws(DriverError) -> [CatalogImage] { [] }

    package func sizes(_ query: CatalogSizesQuery, context: DriverContext) async throws(DriverError) -> [CatalogSize] { [] }

    package func locations(context: DriverContext) async throws(DriverError) -> [CatalogLocation] {
        [CatalogLocation(id: "existing", name: "Existing machines (reached over SSH)")]
    }

    // MARK: Helpers

    private func machineData(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> GenericMachineData {
        guard let data = try await context.driverData(
            GenericMachineData.self, version: GenericMachineData.version, for: machine.machineId)
        else {
            throw .notFound("the generic driver has no record of machine \(machine.machineId); create it first")
        }
        return data
    }

    private func credentials(user: String, machine: MachineID, context: DriverContext) async throws(DriverError) -> SSHCredentials {
        guard let pem = try await context.secrets(for: machine)["ssh-key"] else {
            throw .invalidArgument(
                field: "ssh-key", message: "ssh-key is required: pass the OpenSSH private key authorized for \(user) (a secret option)")
        }
        do {
            return SSHCredentials(user: user, privateKey: try SSHPrivateKey(pem: pem))
        } catch {
            throw .invalidArgument(field: "ssh-key", message: "\(error)")
        }
    }

    private func publicKey(_ line: String, field: String) throws(DriverError) -> SSHPublicKey {
        do {
            return try SSHPublicKey(openSSH: line)
        } catch {
            throw .invalidArgument(field: field, message: "\(field) is not an OpenSSH public key line: \(error)")
        }
    }

    /// Throws unless ``addresses`` allows `host`.
    private func checkAddress(_ host: String) throws(DriverError) {
        do throws(AddressPolicyError) {
            try addresses.check(host)
        } catch {
            throw error.driverError
        }
    }

    /// Checks `host` against ``addresses``, then connects.
    private func connect(
        _ host: String, _ port: Int, _ policy: SSHHostKeyPolicy, _ credentials: SSHCredentials, _ timeout: Duration,
        _ context: DriverContext
    ) async throws(DriverError) -> SSHSession {
        try checkAddress(host)
        do {
            return try await SSHSession.connect(
                host: host, port: port, hostKeyPolicy: policy, credentials: credentials,
                timeouts: .init(connect: timeout, operation: commandTimeout), logger: context.logger)
        } catch {
            throw Self.driverError(error, user: credentials.user)
        }
    }

    /// Maps an SSH failure to what the user can do about it.
    static func driverError(_ error: SSHError, user: String) -> DriverError {
        switch error {
        case .hostKeyMismatch(let host, let port, _, let presented):
            .conflict("\(host):\(port) presented host key \(presented), which is not the expected ssh-host-key; "
                + "nothing was sent to it. If the machine was reinstalled, check its new key out of band and pass it as ssh-host-key. (\(error))")
        case .authenticationFailed:
            .invalidCredentials("\(error) — check ssh-user (\(user)) and that ssh-key's public key is in its authorized_keys")
        case .invalidKey:
            .invalidArgument(field: "ssh-key", message: "\(error)")
        case .timedOut:
            .timeout("\(error)")
        default:
            error.isRetriable ? .providerUnavailable("\(error)") : .internal("\(error)")
        }
    }

    private func details(_ machine: MachineRef, host: String, port: Int, user: String, state: MachineState) -> MachineDetails {
        MachineDetails(
            machine: machine, state: state, observedAt: Date(), providerId: "generic:\(host):\(port)",
            addresses: [MachineAddress(address: host, scope: .public)], ssh: SSHEndpoint(host: host, port: port, user: user),
            location: "existing")
    }
}
