package import PazDriverKit

/// A failed call of a cloud provider's REST API.
package enum CloudAPIError: Error, Sendable, CustomStringConvertible {
    /// The provider answered `status` (its error `code` and `message` when its body had them).
    case status(provider: String, request: String, status: Int, code: String?, message: String?)
    /// No answer: connection refused, reset, timed out.
    case transport(provider: String, request: String, detail: String)
    /// An answer that does not read as the provider documents it.
    case malformedResponse(provider: String, request: String, detail: String)
    /// The calling task was cancelled, or the client shut down.
    case cancelled(provider: String, request: String)

    /// The HTTP status, if the provider answered.
    package var status: Int? {
        if case .status(_, _, let status, _, _) = self { status } else { nil }
    }

    /// The provider's error code (`not_found`, `uniqueness_error`…), if it sent one.
    package var code: String? {
        if case .status(_, _, _, let code, _) = self { code } else { nil }
    }

    /// 404: the resource does not exist (any more).
    package var isNotFound: Bool { status == 404 }

    /// 429: the account's rate limit.
    package var isThrottled: Bool { status == 429 }

    /// Worth another attempt: throttled, a 5xx, or no answer.
    package var isRetriable: Bool {
        switch self {
        case .status(_, _, let status, _, _): status == 429 || (500...599).contains(status)
        case .transport: true
        case .malformedResponse, .cancelled: false
        }
    }

    package var description: String {
        switch self {
        case .status(let provider, let request, let status, let code, let message):
            "\(provider) answered \(request) with HTTP \(status)" + (code.map { " \($0)" } ?? "") + (message.map { ": \($0)" } ?? "")
        case .transport(let provider, let request, let detail):
            "\(provider) could not be reached for \(request): \(detail)"
        case .malformedResponse(let provider, let request, let detail):
            "\(provider)'s answer to \(request) is not what its API documents: \(detail)"
        case .cancelled(let provider, let request):
            "the \(provider) call \(request) was cancelled"
        }
    }

    /// What a driver reports: a refused token names the `token` option; 403 is a permission the token
    /// lacks; 404 not found; 409/412/422 the provider's refusal as an invalid argument; throttling, 5xx
    /// and transport failures are retriable.
    package var driverError: DriverError {
        switch self {
        case .status(let provider, _, 401, _, _):
            .invalidCredentials("\(provider) refused the API token (HTTP 401): check the token option; \(description)")
        case .status(_, _, 403, _, _):
            .invalidCredentials("the API token lacks a permission: \(description)")
        case .status(_, _, 404, _, _):
            .notFound(description)
        case .status(_, _, 409, _, _), .status(_, _, 412, _, _), .status(_, _, 422, _, _), .status(_, _, 400, _, _):
            .invalidArgument(field: nil, message: description)
        case .status, .transport:
            isRetriable ? .providerUnavailable(description) : .internal(description)
        case .malformedResponse:
            .internal(description)
        case .cancelled:
            .timeout(description)
        }
    }
}

/// Runs a provider call, turning its failure into a ``DriverError``.
package func cloud<Value>(_ call: () async throws(CloudAPIError) -> Value) async throws(DriverError) -> Value {
    do {
        return try await call()
    } catch {
        throw error.driverError
    }
}
