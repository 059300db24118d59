/// A failure a user can act on: a stable ``code`` for programs, a ``message`` for people, and
/// whether trying again later may succeed.
package struct OperationError: Error, Sendable, Hashable, Codable, CustomStringConvertible {
    /// A stable, machine-readable category.
    package var code: ErrorCode
    /// What went wrong and what to do about it, for a person.
    package var message: String
    /// Whether the same request may succeed later (a timeout, a rate limit, a provider outage).
    package var retriable: Bool
    /// The input field at fault, when there is one (e.g. `"options.region"`).
    package var field: String?
    /// Extra structured details (the provider's request id, quota figures…); never secrets.
    package var details: [String: JSONValue]?

    package init(
        code: ErrorCode, message: String, retriable: Bool, field: String? = nil,
        details: [String: JSONValue]? = nil
    ) {
        self.code = code
        self.message = message
        self.retriable = retriable
        self.field = field
        self.details = details
    }

    package var description: String {
        "\(code.rawValue): \(message)" + (field.map { " (field \($0))" } ?? "")
    }
}

/// A failure category. An open set of strings: codes added by a newer minor version decode fine
/// and can be treated like ``internal``.
package struct ErrorCode: RawRepresentable, Sendable, Hashable, Codable, ExpressibleByStringLiteral {
    package let rawValue: String

    package init(rawValue: String) { self.rawValue = rawValue }
    package init(stringLiteral value: String) { self.rawValue = value }

    /// An input is invalid; ``OperationError/field`` names it.
    package static let invalidArgument: ErrorCode = "invalid-argument"
    /// The machine, cluster, image, size or location does not exist.
    package static let notFound: ErrorCode = "not-found"
    /// Something with this name already exists (and is not ours to adopt).
    package static let alreadyExists: ErrorCode = "already-exists"
    /// A quota (ours or the provider's) would be exceeded.
    package static let quotaExceeded: ErrorCode = "quota-exceeded"
    /// The provider rejected the credentials.
    package static let invalidCredentials: ErrorCode = "invalid-credentials"
    /// The credentials are valid but not allowed to do this.
    package static let permissionDenied: ErrorCode = "permission-denied"
    /// The driver cannot do this (e.g. `start` on the generic driver).
    package static let unsupported: ErrorCode = "unsupported"
    /// The machine is in a state that does not allow this now.
    package static let conflict: ErrorCode = "conflict"
    /// The provider is unreachable, rate-limiting or failing.
    package static let providerUnavailable: ErrorCode = "provider-unavailable"
    /// The operation did not finish in time (e.g. SSH never answered).
    package static let timeout: ErrorCode = "timeout"
    /// A bug or an unexpected condition; the message says what happened.
    package static let `internal`: ErrorCode = "internal"
}
