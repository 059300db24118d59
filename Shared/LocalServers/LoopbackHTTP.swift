import Foundation
import Logging
import PazHTTP

/// One-shot HTTP requests to servers this program started on loopback (moto's own API, the EC2 fault
/// proxy's control endpoint): a short-lived PazHTTP client per call, no retries, a deadline on each.
package enum LoopbackHTTP {
    /// A response: status and body text.
    package struct Reply: Sendable {
        package var status: Int
        package var body: String
    }

    private static let logger = Logger(label: "paz.local-servers.http")

    /// Sends one request to `url` (an `http://127.…` URL) and returns whatever status it gets.
    /// `server` names the peer in errors. Throws when no response arrives within `timeout`.
    package static func send(
        _ method: String, _ url: String, headers: [(String, String)] = [], body: String = "",
        timeout: Duration, server: String
    ) async throws(LocalServerError) -> Reply {
        let request = "\(method) \(url)"
        guard url.hasPrefix("http://127.") else {
            throw .requestFailed(server: server, request: request, reason: "not a loopback URL")
        }
        let client = HTTPClient(
            configuration: .init(
                connectTimeout: min(timeout, .seconds(5)), totalTimeout: timeout, retry: .none, threadName: "paz-loopback"),
            logger: logger)
        let outcome: Result<HTTPResponse, HTTPClientError>
        do {
            outcome = .success(try await client.send(HTTPRequest(
                method: HTTPMethod(rawValue: method), url: url, headers: HTTPHeaders(headers), body: Data(body.utf8)
            )))
        } catch {
            outcome = .failure(error)
        }
        await client.shutdown()
        switch outcome {
        case .success(let response), .failure(.gaveUp(_, let response)):
            // With no retries a 429 or 5xx comes back as `gaveUp`: it is still an answer.
            return Reply(status: response.status, body: response.bodyText)
        case .failure(let error):
            throw .requestFailed(server: server, request: request, reason: "\(error)")
        }
    }
}
