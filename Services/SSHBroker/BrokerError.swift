package import PazOpenSSH
package import PazSchemas
package import PazSecrets
package import PazStore

/// Why the broker could not issue what a request asked for. Each case maps to the `reply.failure`
/// the caller gets (``operationError``); descriptions never contain key material.
package enum BrokerError: Error, CustomStringConvertible {
    /// The tenant has no such machine (or it belongs to another tenant: the answer is the same).
    case machineNotFound(MachineRef)
    /// The machine exists but its driver has not reported an SSH endpoint yet.
    case noSSHEndpoint(MachineRef)
    /// A request field is unusable.
    case invalidArgument(field: String, message: String)
    /// The sender (the AMQP `user-id` RabbitMQ verified; nil when the message had none) may not ask
    /// for this: `reason` says what it may ask for.
    case senderNotAllowed(sender: String?, command: MessageKind, reason: String)
    /// Redis (the machine records, the CA keys, the audit stream) failed.
    case store(StoreError)
    /// The stored CA keys do not open with this master key, or could not be sealed.
    case secret(SecretError)
    /// The stored CA record is damaged.
    case corruptAuthorities(tenant: TenantID, reason: String)
    /// Making a key or certificate failed (a bug: inputs are validated first).
    case openSSH(OpenSSHError)

    /// The failure reply for this error.
    package var operationError: OperationError {
        switch self {
        case .machineNotFound(let machine):
            OperationError(
                code: .notFound, message: "machine \(machine.machineId) not found in cluster \(machine.clusterId)",
                retriable: false, field: "machine")
        case .noSSHEndpoint(let machine):
            OperationError(
                code: .conflict,
                message: "machine \(machine.machineId) has no SSH endpoint yet; wait for its create operation to finish",
                retriable: true)
        case .invalidArgument(let field, let message):
            OperationError(code: .invalidArgument, message: message, retriable: false, field: field)
        case .senderNotAllowed(let sender, let command, let reason):
            OperationError(
                code: .permissionDenied,
                message: "the SSH broker refuses \(command.rawValue) from \(sender.map { "RabbitMQ user '\($0)'" } ?? "a sender without user-id"): \(reason)",
                retriable: false)
        case .store(let error):
            OperationError(
                code: .internal, message: "the SSH broker could not use its status store: \(error)",
                retriable: error.isRetriable)
        case .secret:
            OperationError(
                code: .internal,
                message: "the SSH broker cannot open the tenant's CA keys: its master key differs from the one they were sealed with",
                retriable: false)
        case .corruptAuthorities:
            OperationError(code: .internal, message: "the tenant's stored SSH CA keys are unreadable", retriable: false)
        case .openSSH(let error):
            OperationError(code: .internal, message: "the SSH broker could not issue a certificate: \(error)", retriable: false)
        }
    }

    package var description: String {
        switch self {
        case .machineNotFound(let machine): "machine \(machine.machineId) (cluster \(machine.clusterId)) not found"
        case .noSSHEndpoint(let machine): "machine \(machine.machineId) has no SSH endpoint yet"
        case .invalidArgument(let field, let message): "invalid \(field): \(message)"
        case .senderNotAllowed(let sender, let command, let reason): "\(command.rawValue) refused for sender \(sender ?? "(none)"): \(reason)"
        case .store(let error): "\(error)"
        case .secret(let error): "\(error)"
        case .corruptAuthorities(let tenant, let reason): "stored SSH CA keys of tenant \(tenant) are unreadable: \(reason)"
        case .openSSH(let error): "\(error)"
        }
    }
}
