package import Foundation
package import HTTPTypes
package import OpenAPIRuntime

/// Adds `Authorization: Bearer <token>` to every request of the generated client.
package struct BearerTokenMiddleware: ClientMiddleware {
    private let token: String

    /// Authenticates as the holder of `token` (a tenant or the admin token).
    package init(token: String) {
        self.token = token
    }

    package func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(token)"
        return try await next(request, body, baseURL)
    }
}
