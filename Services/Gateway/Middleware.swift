import Foundation
import HTTPTypes
import Logging
import OpenAPIRuntime
import PazGatewayAPI
import PazSchemas
import PazServiceKit
import PazStore

/// Who made the request; set by ``AuthMiddleware`` for the handler's task.
enum Principal: Sendable {
    case anonymous
    case admin
    case tenant(TenantID)

    @TaskLocal static var current: Principal = .anonymous

    /// The calling tenant; throws 403 for the admin token (tenant paths only take tenant tokens).
    static func tenant() throws(GatewayProblem) -> TenantID {
        guard case .tenant(let id) = current else {
            throw GatewayProblem(.forbidden, "forbidden", "Forbidden", detail: "this path takes a tenant token, not the admin token")
        }
        return id
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
        do {
            var (response, responseBody) = try await next(request, body, metadata)
            response.headerFields[.xRequestId] = requestId
            // The generated server percent-encodes header values; a Location path keeps its slashes.
            if let location = response.headerFields[.location] {
                response.headerFields[.location] = location.removingPercentEncoding ?? location
            }
            return (response, responseBody)
        } catch {
            let problem = Self.problem(for: error)
            if problem.status == .internalServerError {
                logger.error("request failed", metadata: ["operation": "\(operationID)", "requestId": "\(requestId)", "error": "\(error)"])
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

/// `Authorization: Bearer`: the admin token for `/v1/admin/*`, a tenant token for the rest of `/v1`.
/// `/healthz`, `/readyz`, `/metrics` and `/openapi.yaml` need none.
struct AuthMiddleware: ServerMiddleware {
    let adminToken: Secret
    let store: Store

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let path = request.path ?? "/"
        guard path.hasPrefix("/v1/") else { return try await next(request, body, metadata) }
        guard let header = request.headerFields[.authorization], header.hasPrefix("Bearer "),
            case let token = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces),
            !token.isEmpty
        else {
            throw GatewayProblem(.unauthorized, "unauthorized", "Unauthorized", detail: "send Authorization: Bearer <token>")
        }
        let isAdmin = Self.constantTimeEqual(token, adminToken.reveal())
        let principal: Principal
        if isAdmin {
            principal = .admin
        } else {
            let record: TokenRecord?
            do {
                record = try await store.token(presented: token)
            } catch {
                throw GatewayProblem.from(error)
            }
            guard let record else {
                throw GatewayProblem(.unauthorized, "unauthorized", "Unauthorized", detail: "the token is unknown or revoked")
            }
            principal = .tenant(record.tenantId)
        }
        let adminPath = path.hasPrefix("/v1/admin/") || path == "/v1/admin"
        if adminPath, !isAdmin {
            throw GatewayProblem(.forbidden, "forbidden", "Forbidden", detail: "/v1/admin takes the admin token")
        }
        if !adminPath, isAdmin {
            throw GatewayProblem(.forbidden, "forbidden", "Forbidden", detail: "this path takes a tenant token, not the admin token")
        }
        return try await Principal.$current.withValue(principal) { try await next(request, body, metadata) }
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
}

extension JSONEncoder {
    /// Keys sorted, dates ISO 8601: canonical JSON for problem bodies and request hashes.
    static var gateway: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}
