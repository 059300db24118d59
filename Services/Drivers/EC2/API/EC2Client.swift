import Foundation
package import Logging
package import PazHTTP

/// Calls the EC2 query API of one account in one region: form-encoded POSTs signed by libcurl
/// (SigV4, ``AWSSigV4Signer``), answers parsed as XML.
///
/// Retries live here, not in ``HTTPClient``: throttling (`RequestLimitExceeded`, `Throttling`), 5xx and
/// transport failures are sent again after a jittered backoff (``RetryPolicy``, `Retry-After`
/// honoured), each attempt signed afresh. A call that must not be repeated blindly (`RunInstances`,
/// whose retry first looks for the instance an earlier attempt made) passes `retry: false`.
package struct EC2Client: Sendable {
    /// The account's endpoint and region.
    package let endpoint: EC2Endpoint
    /// The endpoint and the credentials: calls of one account can be batched.
    package let account: Account
    private let http: HTTPClient
    private let signer: AWSSigV4Signer
    private let retry: RetryPolicy
    private let logger: Logger

    package init(endpoint: EC2Endpoint, credentials: AWSCredentials, http: HTTPClient, retry: RetryPolicy, logger: Logger) {
        self.endpoint = endpoint
        self.account = Account(endpoint: endpoint, credentials: credentials)
        self.http = http
        self.signer = AWSSigV4Signer(credentials: credentials, region: endpoint.region, service: "ec2")
        self.retry = retry
        self.logger = logger
    }

    /// Sends `query` and returns the root element of EC2's answer.
    package func call(_ query: EC2Query, retry retrying: Bool = true) async throws(EC2Error) -> EC2XML {
        let maxAttempts = retrying ? retry.maxAttempts : 1
        var attempt = 0
        while true {
            attempt += 1
            let failure: EC2Error
            var response: HTTPResponse?
            do throws(HTTPClientError) {
                let answer = try await http.send(request(for: query), signer: signer)
                response = answer
                if (200..<300).contains(answer.status), let root = EC2XML.parse(answer.body) {
                    return root
                }
                failure = (200..<300).contains(answer.status)
                    ? .malformedResponse(action: query.action, "HTTP \(answer.status) with a body that is not XML")
                    : EC2Error.from(action: query.action, status: answer.status, body: answer.body)
            } catch {
                switch error {
                case .cancelled, .shutDown: throw .cancelled(action: query.action)
                default: failure = .transport(action: query.action, "\(error)")
                }
            }
            guard failure.isRetriable, attempt < maxAttempts else { throw failure }
            let delay = retry.delay(afterAttempt: attempt, response: response)
            logger.info("EC2 call will be retried", metadata: [
                "ec2.action": "\(query.action)", "ec2.attempt": "\(attempt)", "error": "\(failure)",
                "retry_in": "\(delay)",
            ])
            do {
                try await Task.sleep(for: delay)
            } catch {
                throw .cancelled(action: query.action)
            }
        }
    }

    /// Sends `query` with `DryRun=true`: nil when EC2 says the real request would succeed
    /// (`DryRunOperation`), otherwise the error it would fail with.
    package func dryRun(_ query: EC2Query) async -> EC2Error? {
        var dry = query
        dry.add("DryRun", "true")
        do throws(EC2Error) {
            _ = try await call(dry)
            return nil  // an endpoint that ignores DryRun and succeeds has nothing against it either
        } catch {
            return error.code == "DryRunOperation" ? nil : error
        }
    }

    /// Every page of a paginated Describe call: `collect` reads each page's items; `NextToken` is
    /// followed until EC2 sends none (at most `maxPages`).
    package func paginate<Item>(
        _ query: EC2Query, pageSize: Int? = nil, maxPages: Int = 100, _ collect: (EC2XML) -> [Item]
    ) async throws(EC2Error) -> [Item] {
        var items: [Item] = []
        var token: String?
        for _ in 0..<maxPages {
            var page = query
            if let pageSize { page.add("MaxResults", "\(pageSize)") }
            if let token { page.add("NextToken", token) }
            let root = try await call(page)
            items += collect(root)
            guard let next = root.text("nextToken") else { return items }
            token = next
        }
        throw .malformedResponse(action: query.action, "more than \(maxPages) pages")
    }

    private func request(for query: EC2Query) -> HTTPRequest {
        HTTPRequest(
            method: .post, url: endpoint.url,
            headers: ["Content-Type": "application/x-www-form-urlencoded; charset=utf-8", "Accept": "text/xml"],
            body: Data(query.formBody.utf8), idempotent: false)
    }
}

extension EC2Client {
    /// One account at one endpoint.
    package struct Account: Hashable, Sendable {
        package var endpoint: EC2Endpoint
        package var credentials: AWSCredentials
    }
}

/// Where an account's EC2 API answers: its URL and the region signatures are scoped to.
package struct EC2Endpoint: Sendable, Hashable, Codable {
    /// `https://ec2.<region>.amazonaws.com` for AWS, or another EC2-compatible endpoint (moto).
    package var url: String
    package var region: String

    package init(url: String, region: String) {
        self.url = url
        self.region = region
    }

    /// AWS's own endpoint of `region`.
    package static func aws(region: String) -> EC2Endpoint {
        EC2Endpoint(url: "https://ec2.\(region).amazonaws.com/", region: region)
    }
}
