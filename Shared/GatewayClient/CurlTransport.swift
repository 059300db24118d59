package import Foundation
package import HTTPTypes
package import OpenAPIRuntime
package import PazHTTP

/// Carries the generated gateway client's requests over ``PazHTTP/HTTPClient`` (libcurl), so the CLI
/// and the tests use the same HTTP stack as the services. Bodies are buffered (the API's bodies are
/// small; the event stream is read by polling the operation instead).
package struct CurlTransport: ClientTransport {
    private let client: PazHTTP.HTTPClient
    private static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
    /// Largest response body accepted.
    private let maximumBodyBytes = 16 << 20

    /// A transport over `client`.
    package init(client: PazHTTP.HTTPClient) {
        self.client = client
    }

    package func send(
        _ request: HTTPTypes.HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String
    ) async throws -> (HTTPTypes.HTTPResponse, HTTPBody?) {
        var headers = PazHTTP.HTTPHeaders()
        for field in request.headerFields { headers.add(field.name.rawName, field.value) }
        let data = if let body { try await Data(collecting: body, upTo: maximumBodyBytes) } else { Data() }
        let base = baseURL.absoluteString.hasSuffix("/") ? String(baseURL.absoluteString.dropLast()) : baseURL.absoluteString
        let outgoing = PazHTTP.HTTPRequest(
            method: PazHTTP.HTTPMethod(rawValue: request.method.rawValue), url: base + (request.path ?? "/"),
            // A POST is retried only with an Idempotency-Key: the gateway then answers a retry with
            // the same operation instead of starting a second one.
            headers: headers, body: data, idempotent: request.method != .post || request.headerFields[Self.idempotencyKey] != nil,
            sensitiveHeaders: ["authorization"])
        let response = try await client.send(outgoing)
        var fields = HTTPFields()
        for (name, value) in response.headers {
            if let name = HTTPField.Name(name) { fields.append(HTTPField(name: name, value: value)) }
        }
        let status = HTTPTypes.HTTPResponse.Status(code: response.status)
        return (HTTPTypes.HTTPResponse(status: status, headerFields: fields), HTTPBody(response.body))
    }
}
