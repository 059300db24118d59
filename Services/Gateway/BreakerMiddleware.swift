import HTTPTypes
import OpenAPIRuntime
import PazGatewayServer

/// Answers 503 at once while Redis's circuit breaker is open, for every operation that needs Redis
/// (all but the open ones: `/healthz`, `/readyz`, `/metrics`, `/openapi.yaml`), and feeds the breaker
/// with each request's outcome. Between the ``ProblemMiddleware`` (which renders the 503) and the
/// ``AuthMiddleware`` (whose token lookup is the first Redis call).
struct BreakerMiddleware: ServerMiddleware {
    let redis: DependencyBreaker

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        if case .anyone? = OperationAccess.byOperation[operationID] { return try await next(request, body, metadata) }
        let ticket = try redis.admit()
        let answer: (HTTPResponse, HTTPBody?)
        do {
            answer = try await next(request, body, metadata)
        } catch {
            let problem = ProblemMiddleware.problem(for: error)
            if problem.dependency == .redis {
                redis.failed(reason: problem.cause ?? problem.detail)
            } else {
                redis.release(ticket)  // maybe refused before any Redis call: no news about Redis
            }
            throw error
        }
        redis.succeeded()
        return answer
    }
}
