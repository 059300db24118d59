package import PazAMQP
package import PazSchemas

/// Calls the SSH broker over AMQP RPC (`Routing.sshBrokerQueue`): host identities for drivers,
/// short-lived user credentials for the gateway and for services that log in with libssh2.
package struct SSHBrokerClient: Sendable {
    /// Why a call to the broker did not return what was asked.
    package enum Failure: Error, Sendable, CustomStringConvertible {
        /// No broker answered within the timeout.
        case timeout(Duration)
        /// The broker's queue does not exist (no broker ever started) or RabbitMQ is unreachable.
        case unavailable(String)
        /// The broker refused the request (e.g. `not-found` for a machine of another tenant).
        case refused(OperationError)
        /// The broker answered something else, or something unreadable.
        case unexpectedReply(String)

        package var description: String {
            switch self {
            case .timeout(let after): "the SSH broker did not answer within \(after); is paz-ssh-broker running?"
            case .unavailable(let reason): "the SSH broker is unreachable: \(reason)"
            case .refused(let error): "the SSH broker refused: \(error.message)"
            case .unexpectedReply(let what): "the SSH broker answered \(what)"
            }
        }
    }

    let amqp: AMQPConnection
    let timeout: Duration

    package init(amqp: AMQPConnection, timeout: Duration = .seconds(10)) {
        self.amqp = amqp
        self.timeout = timeout
    }

    /// A new host key and host certificate for `machine` (principals: its names and addresses).
    package func hostIdentity(tenant: TenantID, machine: MachineRef, principals: [String]) async throws(Failure) -> HostIdentity {
        let reply = try await call(.sshHostIdentity(HostIdentityRequest(machine: machine, principals: principals)), tenant: tenant)
        guard case .sshHostIdentity(let identity) = reply else { throw .unexpectedReply(reply.kind.rawValue) }
        return identity
    }

    /// A user certificate for `request.principal` on a machine `tenant` owns.
    package func userCredentials(tenant: TenantID, _ request: UserCredentialsRequest) async throws(Failure) -> UserCredentials {
        let reply = try await call(.sshUserCredentials(request), tenant: tenant)
        guard case .sshUserCredentials(let credentials) = reply else { throw .unexpectedReply(reply.kind.rawValue) }
        return credentials
    }

    private func call(_ payload: CommandPayload, tenant: TenantID) async throws(Failure) -> ReplyPayload {
        let envelope = CommandEnvelope(tenantId: tenant, trace: .newTrace(), payload: payload)
        let reply: ReplyEnvelope
        do {
            reply = try await RPCClient(amqp: amqp).call(
                envelope, exchange: "", routingKey: Routing.sshBrokerQueue, timeout: timeout)
        } catch {
            switch error {
            case .timeout(let after): throw .timeout(after)
            case .unreadable(let detail): throw .unexpectedReply("an unreadable message (\(detail))")
            default: throw .unavailable("\(error)")
            }
        }
        if case .failure(let failure) = reply.payload { throw .refused(failure) }
        return reply.payload
    }
}
