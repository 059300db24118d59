import Foundation
import PazControlPlane
package import PazSchemas
import PazSSH

/// SSH to a machine whose host key the SSH broker issued at create (QEMU VMs, cloud instances): the
/// host is verified against exactly that key, and the driver logs in with a short-lived broker
/// certificate. Waiting for boot and probing are the same for every such driver.
package struct BrokeredSSH: Sendable {
    package var machine: MachineRef
    package var host: String
    package var port: Int
    package var user: String
    /// The issued host key line (`ssh-ed25519 AAAA…`).
    package var hostPublicKey: String

    package init(machine: MachineRef, host: String, port: Int, user: String, hostPublicKey: String) {
        self.machine = machine
        self.host = host
        self.port = port
        self.user = user
        self.hostPublicKey = hostPublicKey
    }

    /// Waits until sshd answers with exactly the issued host key and accepts a broker certificate,
    /// for at most `timeout` (cancelling the task ends the wait early).
    package func waitUntilReady(timeout: Duration, context: DriverContext) async throws(DriverError) {
        let credentials = try await credentials(ttl: timeout + .seconds(60), context: context)
        let expected = try hostKey()
        do throws(SSHError) {
            try await SSHSession.waitUntilReady(
                host: host, port: port, hostKeyPolicy: .expect(expected), credentials: credentials,
                deadline: .now + timeout, logger: context.logger)
        } catch {
            if case .notReady(_, _, _, _, let last) = error, case .hostKeyMismatch = last {
                throw .conflict("\(host):\(port) presented another host key than the one issued for the machine: \(last)")
            }
            if case .hostKeyMismatch = error {
                throw .conflict("\(host):\(port) presented another host key than the one issued for the machine: \(error)")
            }
            throw .timeout("SSH on \(host):\(port) did not answer within \(timeout): \(error)")
        }
    }

    /// Runs ``ProbeScript`` with a 60 s certificate; an unreachable machine is a result
    /// (`reachable: false`), not an error.
    /// ``waitUntilReady(timeout:context:)`` once `addresses` allows ``host`` (a refused address
    /// throws, naming the operator's setting), reporting the wait as the machine's progress.
    package func waitUntilReady(timeout: Duration, allowedBy addresses: AddressPolicy, context: DriverContext) async throws(DriverError) {
        do throws(AddressPolicyError) {
            try addresses.check(host)
        } catch {
            throw error.driverError
        }
        await context.progress(machine, step: "waiting for SSH on \(host)")
        try await waitUntilReady(timeout: timeout, context: context)
    }

    /// ``probe(context:)`` once `addresses` allows ``host``; a refused address is an unreachable machine.
    package func probe(allowedBy addresses: AddressPolicy, context: DriverContext) async throws(DriverError) -> ProbeResult {
        do throws(AddressPolicyError) {
            try addresses.check(host)
        } catch {
            return ProbeResult(machine: machine, reachable: false, observedAt: Date(), error: error.description)
        }
        return try await probe(context: context)
    }

    package func probe(context: DriverContext) async throws(DriverError) -> ProbeResult {
        let credentials = try await credentials(ttl: .seconds(60), context: context)
        let expected = try hostKey()
        do throws(SSHError) {
            let session = try await SSHSession.connect(
                host: host, port: port, hostKeyPolicy: .expect(expected), credentials: credentials,
                timeouts: .init(connect: .seconds(10), operation: .seconds(30)), logger: context.logger)
            let result: SSHExecResult
            do throws(SSHError) {
                result = try await session.exec(ProbeScript.command, timeout: .seconds(30))
            } catch {
                await session.close()
                throw error
            }
            await session.close()
            return ProbeScript.parse(result.stdoutText, machine: machine)
        } catch {
            return ProbeResult(machine: machine, reachable: false, observedAt: Date(), error: "\(error)")
        }
    }

    /// A short-lived ECDSA user certificate from the SSH broker (libssh2 1.10 cannot use Ed25519
    /// certificates), for the driver's own logins.
    private func credentials(ttl: Duration, context: DriverContext) async throws(DriverError) -> SSHCredentials {
        guard let broker = context.sshBroker else {
            throw .providerUnavailable("no SSH broker is reachable to issue login credentials; retry when paz-ssh-broker runs")
        }
        let issued: UserCredentials
        do {
            issued = try await broker.userCredentials(
                tenant: context.tenant,
                UserCredentialsRequest(
                    machine: machine, principal: user, ttlSeconds: Int(ttl.components.seconds), keyType: .ecdsa,
                    endpoint: SSHEndpoint(host: host, port: port, user: user)))
        } catch {
            throw .providerUnavailable("the SSH broker issued no credentials: \(error)")
        }
        guard let key = issued.privateKey else { throw .internal("the SSH broker returned no private key") }
        do {
            return SSHCredentials(user: user, privateKey: try SSHPrivateKey(pem: key.value), publicKey: issued.certificate)
        } catch {
            throw .internal("the SSH broker's key is unusable: \(error)")
        }
    }

    private func hostKey() throws(DriverError) -> SSHPublicKey {
        do {
            return try SSHPublicKey(openSSH: hostPublicKey)
        } catch {
            throw .internal("the recorded host key is unreadable: \(error)")
        }
    }
}
