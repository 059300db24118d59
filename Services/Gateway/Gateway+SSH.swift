import Foundation
import HTTPTypes
import Logging
import PazControlPlane
import PazGatewayAPI
import PazOpenSSH
import PazSchemas
import PazStore

/// `POST /v1/machines/{machine}/ssh-credentials`: short-lived credentials from the SSH broker.
extension Gateway {
    func issueSSHCredentials(_ input: Operations.IssueSSHCredentials.Input) async throws
        -> Operations.IssueSSHCredentials.Output
    {
        let tenant = try Principal.tenant()
        let machine = try await findMachine(input.path.machine, tenant: tenant)
        let request: Components.Schemas.SSHCredentialsRequest? = if case .json(let body)? = input.body { body } else { nil }
        guard let endpoint = machine.details?.ssh else {
            throw GatewayProblem(.conflict, "invalid-state", "No SSH endpoint yet",
                                 detail: "machine \(machine.name) has no SSH endpoint yet; wait for its create operation")
        }
        if let ttl = request?.ttlSeconds, !(10...86_400).contains(ttl) {
            throw GatewayProblem.validation("ttlSeconds must be between 10 and 86400", field: "ttlSeconds")
        }
        let principal = request?.principal ?? endpoint.user
        guard principal.range(of: #"^[a-z_][a-z0-9_-]{0,31}$"#, options: .regularExpression) != nil else {
            throw GatewayProblem.validation("principal must be a login name like debian or ops_1", field: "principal")
        }
        let ask = UserCredentialsRequest(
            machine: machine.ref, principal: principal, ttlSeconds: request?.ttlSeconds, publicKey: request?.publicKey)
        let credentials: UserCredentials
        do {
            credentials = try await SSHBrokerClient(amqp: amqp, timeout: configuration.brokerTimeout)
                .userCredentials(tenant: tenant, ask)
        } catch {
            throw Self.problem(error)
        }
        let certificate: OpenSSHCertificate
        do {
            certificate = try OpenSSHCertificate(line: credentials.certificate)
        } catch {
            throw GatewayProblem(.badGateway, "broker-error", "SSH broker error", detail: "the broker's certificate is unreadable: \(error)")
        }
        logger.info("ssh credentials issued", metadata: [
            "tenant": "\(tenant)", "machine": "\(machine.id)", "serial": "\(credentials.serial)",
            "principal": "\(principal)", "validBefore": "\(Timestamp.format(credentials.validBefore))",
        ])
        return .ok(.init(headers: .init(cacheControl: "no-store"), body: .json(.init(
            machine: machine.name.rawValue, host: credentials.ssh.host, port: credentials.ssh.port, user: principal,
            privateKey: credentials.privateKey?.value, publicKey: credentials.publicKey, certificate: credentials.certificate,
            knownHosts: credentials.knownHostsLine, keyId: certificate.keyID, serial: Int64(truncatingIfNeeded: credentials.serial),
            principals: certificate.principals, validAfter: credentials.validAfter, validBefore: credentials.validBefore))))
    }

    /// The HTTP answer to a broker failure: 504 on silence, 503 when unreachable, the refusal's code
    /// mapped (not-found → 404, invalid-argument → 422), anything else 502.
    static func problem(_ failure: SSHBrokerClient.Failure) -> GatewayProblem {
        switch failure {
        case .timeout:
            GatewayProblem(.gatewayTimeout, "timeout", "SSH broker timeout", detail: "\(failure); retry later")
        case .unavailable:
            GatewayProblem.dependencyUnavailable("\(failure)")
        case .refused(let error) where error.code == .notFound:
            GatewayProblem(.notFound, "not-found", "Not found", detail: error.message)
        case .refused(let error) where error.code == .invalidArgument:
            GatewayProblem(.unprocessableContent, "invalid-argument", "Invalid request", detail: error.message, field: error.field)
        case .refused, .unexpectedReply:
            GatewayProblem(.badGateway, "broker-error", "SSH broker error", detail: "\(failure)")
        }
    }
}
