import Foundation
import HTTPTypes
import Logging
import OpenAPIRuntime
import PazGatewayAPI
import PazGatewayServer
import PazSchemas
import PazServiceKit
import PazStore

/// Who made the request; set by ``AuthMiddleware`` for the handler's task.
enum Principal: Sendable {
    case anonymous
    case admin
    case tenant(TenantID)

    @TaskLocal static var current: Principal = .anonymous

    /// The calling tenant; throws 403 for any other principal.
    static func tenant() throws(GatewayProblem) -> TenantID {
        guard case .tenant(let id) = current else {
            throw GatewayProblem(.forbidden, "forbidden", "Forbidden", detail: "this operation takes a tenant token")
        }
        return id
    }

    /// Asserts the admin principal (admin handlers call it first, whatever the middleware decided).
    static func requireAdmin() throws(GatewayProblem) {
        guard case .admin = current else {
            throw GatewayProblem(.forbidden, "forbidden", "Forbidden", detail: "this operation takes the admin token")
        }
    }
}

/// Turns every error into an `application/problem+json` answer with a request id, and adds
/// `X-Request-Id` to every answer. Outermost, so authentication failures pass through it too.
struct ProblemMiddleware: ServerMiddleware {
    let logger: Logger

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let requestId = "req_" + ULID.make()
        // An empty body (its length set by the RequestGate) is no body: optional bodies may be left out.
        let body = body?.length == .known(0) ? nil : body
        do {
            var (response, responseBody) = try await next(request, body, metadata)
            response.headerFields[.xRequestId] = requestId
            // The generated server percent-encodes header values; a Location path keeps its slashes,
            // an ETag its quotes.
            for name in [HTTPField.Name.location, .eTag] {
                if let value = response.headerFields[name], value.utf8.contains(UInt8(ascii: "%")) {
                    response.headerFields[name] = value.removingPercentEncoding ?? value
                }
            }
            return (response, responseBody)
        } catch {
            let problem = Self.problem(for: error)
            if problem.status.code >= 500 {
                // Only the underlying error: the generated server's wrapper describes the whole request
                // (headers with the bearer token, the decoded body with secret options). A dependency
                // that is down is logged once by its breaker; each refused request only at notice.
                logger.log(level: problem.dependency == nil ? .error : .notice, "request failed", metadata: [
                    "operation": "\(operationID)", "requestId": "\(requestId)", "status": "\(problem.status.code)",
                    "problem": "\(problem.type)", "error": "\(problem.cause ?? problem.detail)",
                ])
            } else {
                logger.info("request refused", metadata: [
                    "operation": "\(operationID)", "requestId": "\(requestId)", "status": "\(problem.status.code)",
                    "problem": "\(problem.type)",
                ])
            }
            var response = HTTPResponse(status: problem.status)
            response.headerFields[.contentType] = "application/problem+json"
            response.headerFields[.xRequestId] = requestId
            if let retryAfter = problem.retryAfter { response.headerFields[.retryAfter] = "\(retryAfter)" }
            if problem.status == .unauthorized { response.headerFields[.wwwAuthenticate] = #"Bearer realm="paz""# }
            let json = (try? JSONEncoder.gateway.encode(problem.body(instance: request.path, requestId: requestId))) ?? Data()
            return (response, HTTPBody(Array(json)))
        }
    }

    /// Unwraps the generated server's error wrapper; undecodable requests are 400.
    static func problem(for error: any Error) -> GatewayProblem {
        var current: any Error = error
        while let wrapped = current as? ServerError {
            if wrapped.operationInput == nil, !(wrapped.underlyingError is GatewayProblem) {
                return GatewayProblem(
                    .badRequest, "malformed-request", "Malformed request",
                    detail: "the request could not be decoded: \(wrapped.underlyingError)")
            }
            current = wrapped.underlyingError
        }
        if let problem = current as? GatewayProblem { return problem }
        if let store = current as? StoreError { return .from(store) }
        if let validation = current as? ValidationError { return validation.problem }
        return GatewayProblem(.internalServerError, "internal", "Internal error", detail: "\(current)")
    }
}

/// `Authorization: Bearer`, decided after routing by the operation's declared `security`
/// (``OperationAccess``, generated from openapi.yaml), never by the path text; an operation the table
/// does not know is refused. Tenant requests are counted against the tenant's per-second rate limit
/// (``RateLimiter``).
struct AuthMiddleware: ServerMiddleware {
    let adminToken: Secret
    let store: Store
    let rateLimiter: RateLimiter

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        guard let access = OperationAccess.byOperation[operationID] else {
            throw GatewayProblem(.forbidden, "forbidden", "Forbidden", detail: "operation \(operationID) is not open to any caller")
        }
        if case .anyone = access { return try await next(request, body, metadata) }
        let token = try Self.bearerToken(request)
        let reading: Store.TenantVersion? = switch operationID {
        case Operations.GetStatus.id: .status
        case Operations.CreateCluster.id, Operations.AddMachine.id: .driverDefaults
        default: nil
        }
        let (principal, version) = try await authenticate(token, reading: reading)
        switch (access, principal) {
        case (.admin, .admin), (.tenant, .tenant): break
        case (.admin, _):
            throw GatewayProblem(.forbidden, "forbidden", "Forbidden", detail: "this operation takes the admin token; a tenant token was sent")
        default:
            throw GatewayProblem(.forbidden, "forbidden", "Forbidden", detail: "this operation takes a tenant token, not the admin token")
        }
        return try await Principal.$current.withValue(principal) {
            guard let reading, case .tenant = principal else { return try await next(request, body, metadata) }
            return try await TenantVersions.$read.withValue(.init(key: reading, value: version)) {
                try await next(request, body, metadata)
            }
        }
    }

    /// The admin principal for the admin token, the token's tenant for a live tenant token (counted
    /// against its rate limit: 429 past it), 401 otherwise.
    /// With `reading`, also that version of the tenant, read in the same round trip.
    private func authenticate(_ token: String, reading: Store.TenantVersion?) async throws -> (Principal, String?) {
        if Self.constantTimeEqual(token, adminToken.reveal()) { return (.admin, nil) }
        let found: (record: TokenRecord, version: String?)?
        let admitted: Bool
        do {
            found = try await store.authenticate(presented: token, reading: reading)
            guard let found else {
                throw GatewayProblem(.unauthorized, "unauthorized", "Unauthorized", detail: "the token is unknown, expired or revoked")
            }
            admitted = try await rateLimiter.admit(found.record.tenantId)
        } catch let error as StoreError {
            throw GatewayProblem.from(error)
        }
        guard admitted, let found else {
            throw GatewayProblem(
                .tooManyRequests, "rate-limited", "Too many requests",
                detail: "more than \(rateLimiter.limit) requests per second for this tenant; retry in 1 s", retryAfter: 1)
        }
        return (.tenant(found.record.tenantId), found.version)
    }

    /// The bearer token of `Authorization`; 401 when there is none.
    private static func bearerToken(_ request: HTTPRequest) throws(GatewayProblem) -> String {
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        var token = request.headerFields[.authorization].map { Substring($0).utf8 } ?? Substring().utf8
        let isBearer = token.starts(with: "Bearer ".utf8)
        token = token.dropFirst(isBearer ? "Bearer ".count : 0)
        while let first = token.first, isBlank(first) { token = token.dropFirst() }
        while let last = token.last, isBlank(last) { token = token.dropLast() }
        guard isBearer, !token.isEmpty else {
            throw GatewayProblem(.unauthorized, "unauthorized", "Unauthorized", detail: "send Authorization: Bearer <token>")
        }
        return String(Substring(token))
    }

    /// Compares without an early exit, so timing does not reveal how much of the token matched.
    static func constantTimeEqual(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8)
        let b = Array(rhs.utf8)
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }
}

extension HTTPField.Name {
    static let xRequestId = Self("X-Request-Id")!
    static let idempotencyKey = Self("Idempotency-Key")!
}

extension JSONEncoder {
    /// Keys sorted, dates ISO 8601 in whole seconds (what `.iso8601` wrote, so stored request hashes
    /// still match): canonical JSON for problem bodies and request hashes.
    static var gateway: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = Timestamp.secondsEncodingStrategy
        return encoder
    }
}
