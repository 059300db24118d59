package import Foundation
package import Logging
package import PazHTTP

/// A cloud provider's JSON REST API for one account: bearer token, JSON bodies, retries.
///
/// Retries live here (the ``HTTPClient`` it uses never retries): a 429 is sent again whatever the
/// method (the provider refused it before doing anything), after its `Retry-After` or
/// `RateLimit-Reset`; a 5xx or a transport failure only for idempotent methods (GET, PUT, DELETE) —
/// a POST that failed that way may have taken effect, and its caller decides (a create looks for
/// what an earlier attempt made). The token travels only in the `Authorization` header, which the
/// client's logs redact.
package struct RESTClient: Sendable {
    /// The API's base URL without a trailing slash (`https://api.digitalocean.com`); paths are appended.
    package let baseURL: String
    /// The provider's name in messages ("DigitalOcean").
    package let provider: String
    private let token: String
    private let http: HTTPClient
    private let retry: RetryPolicy
    private let logger: Logger
    private let parseError: @Sendable (_ status: Int, _ body: Data) -> (code: String?, message: String?)

    /// A client of `baseURL` with `token`; `parseError` reads the provider's error body.
    package init(
        baseURL: String, provider: String, token: String, http: HTTPClient, retry: RetryPolicy, logger: Logger,
        parseError: @escaping @Sendable (_ status: Int, _ body: Data) -> (code: String?, message: String?)
    ) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.provider = provider
        self.token = token
        self.http = http
        self.retry = retry
        self.logger = logger
        self.parseError = parseError
    }

    /// Sends one request and returns its 2xx answer; any other status becomes a ``CloudAPIError``.
    /// `url` overrides `path` + `query` (a pagination link the provider handed out).
    package func send(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], json body: Data? = nil, url: String? = nil
    ) async throws(CloudAPIError) -> HTTPResponse {
        let target = url ?? Self.url(baseURL + path, query: query)
        let what = "\(method) \(path)"
        let idempotent = method != .post && method != .patch
        var headers: HTTPHeaders = ["Authorization": "Bearer \(token)", "Accept": "application/json"]
        if body != nil { headers.set("Content-Type", "application/json") }
        let request = HTTPRequest(method: method, url: target, headers: headers, body: body ?? Data(), idempotent: idempotent)
        var attempt = 0
        while true {
            attempt += 1
            let failure: CloudAPIError
            var response: HTTPResponse?
            do throws(HTTPClientError) {
                let answer = try await http.send(request)
                if (200..<300).contains(answer.status) { return answer }
                response = answer
                let parsed = parseError(answer.status, answer.body)
                failure = .status(provider: provider, request: what, status: answer.status, code: parsed.code, message: parsed.message)
            } catch {
                switch error {
                case .cancelled, .shutDown: throw .cancelled(provider: provider, request: what)
                default: failure = .transport(provider: provider, request: what, detail: "\(error)")
                }
            }
            let again = failure.isThrottled || (idempotent && failure.isRetriable)
            guard again, attempt < retry.maxAttempts else { throw failure }
            let delay = retry.delay(afterAttempt: attempt, response: response)
            logger.info("provider call will be retried", metadata: [
                "provider": "\(provider)", "request": "\(what)", "attempt": "\(attempt)", "error": "\(failure)",
                "retry_in": "\(delay)",
            ])
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw .cancelled(provider: provider, request: what)
            }
        }
    }

    /// ``send(_:_:query:json:url:)`` with an encoded body, decoding the answer as `Answer`.
    package func call<Answer: Decodable>(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: (some Encodable)? = nil as Empty?,
        url: String? = nil, as: Answer.Type = Answer.self
    ) async throws(CloudAPIError) -> Answer {
        let response = try await send(method, path, query: query, json: try encode(body, for: "\(method) \(path)"), url: url)
        return try decode(Answer.self, from: response.body, for: "\(method) \(path)")
    }

    /// ``send(_:_:query:json:url:)`` with an encoded body, ignoring the answer's body.
    package func perform(
        _ method: HTTPMethod, _ path: String, query: [(String, String)] = [], body: (some Encodable)? = nil as Empty?
    ) async throws(CloudAPIError) {
        _ = try await send(method, path, query: query, json: try encode(body, for: "\(method) \(path)"))
    }

    /// `Answer` decoded from `data`, or a malformed-response error naming the request.
    package func decode<Answer: Decodable>(_ type: Answer.Type, from data: Data, for request: String) throws(CloudAPIError) -> Answer {
        do {
            return try JSONDecoder().decode(Answer.self, from: data)
        } catch {
            throw .malformedResponse(provider: provider, request: request, detail: "\(error)")
        }
    }

    private func encode(_ body: (some Encodable)?, for request: String) throws(CloudAPIError) -> Data? {
        guard let body else { return nil }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            return try encoder.encode(body)
        } catch {
            throw .malformedResponse(provider: provider, request: request, detail: "the request body did not encode: \(error)")
        }
    }

    /// `base` with `query` percent-encoded (RFC 3986 unreserved characters kept).
    package static func url(_ base: String, query: [(String, String)]) -> String {
        guard !query.isEmpty else { return base }
        return base + "?" + query.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    private static func escape(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    /// No body.
    package struct Empty: Codable, Sendable {}
}
