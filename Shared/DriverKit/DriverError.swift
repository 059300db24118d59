package import PazSchemas

/// Why a driver operation failed. Becomes the `OperationError` of a failed operation (or a
/// `reply.failure`), so messages say what the user can do about it.
package enum DriverError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The driver cannot do `operation` (e.g. start a machine it does not control).
    case unsupported(operation: String, reason: String)
    /// A create option or argument is missing or wrong; `field` names it.
    case invalidArgument(field: String?, message: String)
    /// The provider refused the credentials (API token, SSH key).
    case invalidCredentials(String)
    /// The machine or resource does not exist at the provider.
    case notFound(String)
    /// Something on the provider's side disagrees with the request (e.g. an unexpected host key).
    case conflict(String)
    /// The provider or network did not answer: retrying later may succeed.
    case providerUnavailable(String)
    /// The operation did not finish in time: retrying later may succeed.
    case timeout(String)
    /// A bug or an unexpected condition.
    case `internal`(String)

    /// Whether the kit should retry (requeue) the command.
    package var isRetriable: Bool {
        switch self {
        case .providerUnavailable, .timeout: true
        default: false
        }
    }

    /// The wire form for events and failure replies.
    package var operationError: OperationError {
        switch self {
        case .unsupported(let operation, let reason):
            OperationError(code: .unsupported, message: "\(operation) is not supported: \(reason)", retriable: false)
        case .invalidArgument(let field, let message):
            OperationError(code: .invalidArgument, message: message, retriable: false, field: field)
        case .invalidCredentials(let message):
            OperationError(code: .invalidCredentials, message: message, retriable: false)
        case .notFound(let message):
            OperationError(code: .notFound, message: message, retriable: false)
        case .conflict(let message):
            OperationError(code: .conflict, message: message, retriable: false)
        case .providerUnavailable(let message):
            OperationError(code: .providerUnavailable, message: message, retriable: true)
        case .timeout(let message):
            OperationError(code: .timeout, message: message, retriable: true)
        case .internal(let message):
            OperationError(code: .internal, message: message, retriable: false)
        }
    }

    package var description: String { operationError.description }
}
