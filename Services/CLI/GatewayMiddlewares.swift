package import Foundation
package import HTTPTypes
package import OpenAPIRuntime
package import PazGatewayAPI

/// Turns every error answer of the gateway (status ≥ 400) into ``CLIError/problem(_:)``, so commands
/// only handle their success case. A body that is not a problem document becomes a problem carrying
/// the status and the start of the body.
package struct ProblemMiddleware: ClientMiddleware {
    package init() {}

    package func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        let (response, responseBody) = try await next(request, body, baseURL)
        guard response.status.code >= 400 else { return (response, responseBody) }
        let data = if let responseBody { try await Data(collecting: responseBody, upTo: 1 << 20) } else { Data() }
        throw CLIError.problem(Self.problem(status: response.status.code, body: data))
    }

    /// The problem document in `body`, or one made up from the status when there is none.
    package static func problem(status: Int, body: Data) -> Components.Schemas.Problem {
        if let problem = try? JSONDecoder().decode(Components.Schemas.Problem.self, from: body) { return problem }
        let text = String(decoding: body.prefix(200), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return Components.Schemas.Problem(
            _type: "about:blank", title: "HTTP \(status)", status: status,
            detail: text.isEmpty ? "the gateway answered \(status) without a problem document" : text)
    }
}

/// Adds a random `Idempotency-Key` to every POST that has none. The transport reuses the same request
/// (and so the same key) when it retries, so a retried POST never starts a second operation.
package struct IdempotencyKeyMiddleware: ClientMiddleware {
    private static let header = HTTPField.Name("Idempotency-Key")!

    package init() {}

    package func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        if request.method == .post && request.headerFields[Self.header] == nil {
            request.headerFields[Self.header] = UUID().uuidString.lowercased()
        }
        return try await next(request, body, baseURL)
    }
}
