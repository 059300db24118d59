import Foundation
package import HTTPTypes
import PazAMQP
import PazRedis
import PazGatewayAPI
import PazSchemas
import PazStore

/// An RFC 9457 problem the gateway answers with (docs/api.md, "Errors"). Handlers throw it; the
/// ``ProblemMiddleware`` turns it (and every other error) into an `application/problem+json` response.
package struct GatewayProblem: Error, Sendable, CustomStringConvertible {
    package var status: HTTPResponse.Status
    /// The slug after `urn:paz:problem:`.
    package var type: String
    package var title: String
    package var detail: String
    package var field: String?
    package var operation: String?
    /// Seconds for `Retry-After` (503, 409 in-use).
    package var retryAfter: Int?
    /// The dependency whose failure this answer reports (it counts toward that dependency's circuit
    /// breaker); nil for every other answer. Not part of the body.
    package var dependency: Dependency?
    /// The underlying error of a dependency failure, for logs and the breaker (never in the body).
    package var cause: String?

    package init(
        _ status: HTTPResponse.Status, _ type: String, _ title: String, detail: String, field: String? = nil,
        operation: String? = nil, retryAfter: Int? = nil
    ) {
        self.status = status
        self.type = type
        self.title = title
        self.detail = detail
        self.field = field
        self.operation = operation
        self.retryAfter = retryAfter
    }

    package var description: String { "\(status.code) \(type): \(detail)" }

    /// A driver's failed answer to a query (catalog, probe), by what its code says: the tenant's input
    /// or stored defaults refused (422 `driver-refused`, e.g. a catalog without stored credentials),
    /// not found (404), the provider down or throttling (503 `provider-unavailable`), too slow (504),
    /// anything else 502 `provider-error`.
    static func driverFailed(_ failure: OperationError) -> Self {
        switch failure.code {
        case .invalidArgument, .invalidCredentials, .permissionDenied, .unsupported, .quotaExceeded, .alreadyExists, .conflict:
            Self(.unprocessableContent, "driver-refused", "Driver refused the request", detail: failure.message,
                 field: failure.field.map { "options.\($0)" })
        case .notFound:
            Self(.notFound, "not-found", "Not found", detail: failure.message)
        case .providerUnavailable:
            Self(.serviceUnavailable, "provider-unavailable", "Provider unavailable", detail: failure.message, retryAfter: 5)
        case .timeout:
            Self(.gatewayTimeout, "timeout", "Driver timeout", detail: failure.message)
        default:
            Self(.badGateway, "provider-error", "Driver error", detail: failure.message)
        }
    }

    static func notFound(_ what: String) -> Self {
        Self(.notFound, "not-found", "Not found", detail: "\(what) does not exist for this tenant")
    }

    /// An Idempotency-Key sent again with a different request (tenant or admin scope alike).
    static let idempotencyKeyMismatch = Self(
        .unprocessableContent, "idempotency-key-mismatch", "Idempotency-Key reused",
        detail: "this Idempotency-Key was used for a different request; use a new key", field: "Idempotency-Key")

    static func validation(_ detail: String, field: String) -> Self {
        Self(.unprocessableContent, "validation", "Invalid value", detail: detail, field: field)
    }

    /// 503 `dependency-unavailable`; with `dependency`, the failure counts toward its circuit breaker.
    static func dependencyUnavailable(_ detail: String, dependency: Dependency? = nil, retryAfter: Int = 5) -> Self {
        var problem = Self(
            .serviceUnavailable, "dependency-unavailable", "Dependency unavailable",
            detail: detail + "; nothing was accepted, retry later with the same Idempotency-Key", retryAfter: retryAfter)
        problem.dependency = dependency
        return problem
    }

    /// This problem with `cause` (the underlying error) recorded.
    func caused(by cause: String) -> Self {
        var problem = self
        problem.cause = cause
        return problem
    }

    /// The problem for a store failure: Redis down → 503, a conflict → 409, anything else → 500.
    /// A retriable Redis failure (unreachable, timed out, busy) counts toward Redis's breaker.
    static func from(_ error: StoreError) -> Self {
        switch error {
        case .redis(let cause):
            dependencyUnavailable("the status store (Redis) is unreachable", dependency: cause.isRetriable ? .redis : nil)
                .caused(by: "\(cause)")
        case .conflict(let what): Self(.conflict, "name-taken", "Name taken", detail: what, field: "name")
        case .quotaExceeded: Self(.unprocessableContent, "quota-exceeded", "Quota exceeded", detail: "\(error)", field: "count")
        case .limitReached(let what):
            Self(.tooManyRequests, "limit-reached", "Too many requests", detail: what + "; retry later", retryAfter: 60)
        case .clusterChanged: Self(.conflict, "operation-conflict", "Concurrent change", detail: "\(error)", retryAfter: 1)
        case .notFound(let what): Self(.notFound, "not-found", "Not found", detail: what)
        case .secretsUnavailable, .secret, .corrupt:
            Self(.internalServerError, "internal", "Internal error", detail: "\(error)")
        }
    }

    /// The problem for an AMQP failure while queueing commands.
    static func from(_ error: AMQPError, driver: String) -> Self {
        switch error {
        case .unroutable:
            Self(.serviceUnavailable, "driver-unavailable", "Driver unavailable",
                 detail: "no command queue of driver \"\(driver)\" exists (no replica ever started); nothing was queued",
                 retryAfter: 5)
        case .blocked:
            dependencyUnavailable(
                "the message broker (RabbitMQ) blocks publishing (a resource alarm)", dependency: .rabbitmq,
                retryAfter: 5)
                .caused(by: "\(error)")
        default:
            dependencyUnavailable(
                "the message broker (RabbitMQ) did not accept the command: \(error)", dependency: .rabbitmq)
                .caused(by: "\(error)")
        }
    }

    /// The JSON body.
    func body(instance: String?, requestId: String) -> Components.Schemas.Problem {
        Components.Schemas.Problem(
            _type: "urn:paz:problem:\(type)", title: title, status: status.code, detail: detail, instance: instance,
            field: field, operation: operation, retriable: status == .serviceUnavailable ? true : nil,
            requestId: requestId)
    }
}

extension ValidationError {
    /// As a 422 problem naming the field.
    var problem: GatewayProblem { .validation(message, field: field) }
}
