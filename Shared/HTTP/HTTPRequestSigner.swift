/// Signs a request before EACH attempt (so a signature can carry a fresh timestamp, as SigV4 needs).
///
/// The client passes a fresh copy of the caller's request every time; the signer adds headers (or query
/// parameters) and may mark new secret headers in ``HTTPRequest/sensitiveHeaders``, or has libcurl sign
/// the attempt (``AWSSigV4Signer`` sets ``HTTPRequest/awsSigV4``). `Authorization`,
/// `Proxy-Authorization` and `X-Amz-Security-Token` are always redacted from logs.
package protocol HTTPRequestSigner: Sendable {
    /// Adds authentication to `request` for attempt number `attempt` (1-based).
    func sign(_ request: inout HTTPRequest, attempt: Int) async throws
}

/// Sends `Authorization: Bearer <token>` (DigitalOcean, Hetzner and most JSON APIs).
package struct BearerTokenSigner: HTTPRequestSigner {
    private let token: String

    package init(token: String) {
        self.token = token
    }

    package func sign(_ request: inout HTTPRequest, attempt: Int) async throws {
        request.headers.set("Authorization", "Bearer \(token)")
    }
}
