import Foundation
import Logging
import PazHTTP
import PazTestSupport
import PazLocalServers
import Testing

/// PazHTTP against a real local HTTP server (Server/http_test_server.py).
@Suite("HTTP client")
struct HTTPClientTests {
    /// Fast backoff so retry tests take milliseconds, except where the server asks for Retry-After.
    static let quickRetry = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(20), maximumDelay: .milliseconds(100))

    /// Runs `body` with a fresh client and shuts it down afterwards (also when `body` throws).
    func withClient<T>(
        retry: RetryPolicy = quickRetry,
        logs: LogCapture = LogCapture(),
        sensitiveHeaders: Set<String> = [],
        maxConnectionsPerHost: Int = 0,
        threadName: String = "paz-http-test",
        _ body: (HTTPClient) async throws -> T
    ) async throws -> T {
        try await withHTTPClient(
            .init(
                connectTimeout: .seconds(5), totalTimeout: .seconds(20), retry: retry, sensitiveHeaders: sensitiveHeaders,
                maxConnectionsPerHost: maxConnectionsPerHost, threadName: threadName
            ),
            logger: logs.logger, body)
    }

    /// How many requests the server saw with test id `id`.
    func serverCount(_ server: TestHTTPServer, id: String) async throws -> Int {
        try await withClient { client in
            let response = try await client.send(HTTPRequest(url: server.url("/count", id: id)))
            return try #require(Int(response.bodyText))
        }
    }

    func echo(of response: HTTPResponse) throws -> Echo {
        try JSONDecoder().decode(Echo.self, from: response.body)
    }

    static func newID() -> String { UUID().uuidString }

    // MARK: - Round trips

    @Test func getReturnsBodyStatusHeadersAndTiming() async throws {
        let server = try await TestHTTPServer.get()
        let response = try await withClient { try await $0.send(HTTPRequest(url: server.url("/ok", id: Self.newID()))) }
        #expect(response.status == 200)
        #expect(response.bodyText == "ok")
        #expect(response.headers["x-test"] == "yes")
        #expect(response.headers["X-TEST"] == "yes")
        #expect(response.headers["content-length"] == "2")
        #expect(response.totalSeconds > 0)
    }

    @Test func postBodyAndHeadersReachTheServer() async throws {
        let server = try await TestHTTPServer.get()
        let payload = #"{"name":"paz","size":"s-1vcpu-1gb","tags":["é","✓"]}"#
        let request = HTTPRequest(
            method: .post,
            url: server.url("/echo", id: Self.newID()),
            headers: ["Content-Type": "application/json", "X-Custom": "value 1", "X-Empty": ""],
            body: Data(payload.utf8)
        )
        let response = try await withClient { try await $0.send(request) }
        let echo = try echo(of: response)
        #expect(response.status == 200)
        #expect(echo.method == "POST")
        #expect(echo.body == payload)
        #expect(echo.header("Content-Type") == "application/json")
        #expect(echo.header("X-Custom") == "value 1")
        #expect(echo.header("X-Empty") == "")
        #expect(echo.header("Content-Length") == "\(Data(payload.utf8).count)")
        #expect(echo.header("Expect") == nil)
    }

    @Test(arguments: [HTTPMethod.put, .patch, .delete, .get])
    func methodsAndBodiesAreSentAsGiven(method: HTTPMethod) async throws {
        let server = try await TestHTTPServer.get()
        let body = method == .delete ? Data() : Data("body for \(method)".utf8)
        let request = HTTPRequest(method: method, url: server.url("/echo", id: Self.newID()), body: body)
        let echo = try echo(of: try await withClient { try await $0.send(request) })
        #expect(echo.method == method.rawValue)
        #expect(echo.body == String(decoding: body, as: UTF8.self))
    }

    @Test func headRequestHasNoBody() async throws {
        let server = try await TestHTTPServer.get()
        let response = try await withClient { try await $0.send(HTTPRequest(method: .head, url: server.url("/ok", id: Self.newID()))) }
        #expect(response.status == 200)
        #expect(response.body.isEmpty)
        #expect(response.headers["X-Test"] == "yes")
    }

    @Test func clientErrorStatusIsReturnedNotRetried() async throws {
        let server = try await TestHTTPServer.get()
        let id = Self.newID()
        let response = try await withClient { try await $0.send(HTTPRequest(url: server.url("/status", id: id, "code=404"))) }
        #expect(response.status == 404)
        #expect(try await serverCount(server, id: id) == 1)
    }

    // MARK: - Retries

    @Test func tooManyRequestsHonoursRetryAfterSeconds() async throws {
        let server = try await TestHTTPServer.get()
        let id = Self.newID()
        let started = ContinuousClock.now
        let response = try await withClient { try await $0.send(HTTPRequest(url: server.url("/flaky-429", id: id, "n=2&retry-after=1"))) }
        let elapsed = ContinuousClock.now - started
        #expect(response.status == 200)
        // Two 429s each asking for 1 s: the quick backoff (≤ 100 ms) alone could never take this long.
        #expect(elapsed >= .milliseconds(1950))
        #expect(elapsed < .seconds(10))
        #expect(try await serverCount(server, id: id) == 3)
    }

    @Test func tooManyRequestsHonoursRetryAfterHTTPDate() async throws {
        let server = try await TestHTTPServer.get()
        let id = Self.newID()
        let started = ContinuousClock.now
        let response = try await withClient { try await $0.send(HTTPRequest(url: server.url("/flaky-429", id: id, "n=1&retry-after=2&date=1"))) }
        let elapsed = ContinuousClock.now - started
        #expect(response.status == 200)
        // The date has whole-second precision: a 2 s date is at least 1 s away.
        #expect(elapsed >= .milliseconds(950))
        #expect(try await serverCount(server, id: id) == 2)
    }

    @Test func getSucceedsAfterTwoServiceUnavailable() async throws {
        let server = try await TestHTTPServer.get()
        let id = Self.newID()
        let response = try await withClient { try await $0.send(HTTPRequest(url: server.url("/flaky-503", id: id, "n=2"))) }
        #expect(response.status == 200)
        #expect(try await serverCount(server, id: id) == 3)
    }

    @Test func postIsNotRetried() async throws {
        let server = try await TestHTTPServer.get()
        let id = Self.newID()
        let request = HTTPRequest(method: .post, url: server.url("/flaky-503", id: id, "n=2"), body: Data("create".utf8))
        #expect(!request.idempotent)
        let response = try await withClient { try await $0.send(request) }
        #expect(response.status == 503)
        #expect(try await serverCount(server, id: id) == 1)
    }

    @Test func postMarkedIdempotentIsRetried() async throws {
        let server = try await TestHTTPServer.get()
        let id = Self.newID()
        let request = HTTPRequest(
            method: .post, url: server.url("/flaky-503", id: id, "n=2&ClientToken=abc"), body: Data("create".utf8), idempotent: true
        )
        let response = try await withClient { try await $0.send(request) }
        #expect(response.status == 200)
        #expect(try echo(of: response).body == "create")
        #expect(try await serverCount(server, id: id) == 3)
    }

    @Test func exhaustedAttemptsThrowGaveUpWithLastResponse() async throws {
        let server = try await TestHTTPServer.get()
        let id = Self.newID()
        let policy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maximumDelay: .milliseconds(50))
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient(retry: policy) { try await $0.send(HTTPRequest(url: server.url("/flaky-503", id: id, "n=100"))) }
        }
        guard case .gaveUp(let attempts, let last)? = error else {
            Issue.record("expected gaveUp, got \(String(describing: error))")
            return
        }
        #expect(attempts == 3)
        #expect(last.status == 503)
        #expect(last.bodyText == "unavailable")
        #expect(error?.isRetriable == true)
        #expect(error?.description.contains("gave up after 3 attempts: last status 503") == true)
        #expect(try await serverCount(server, id: id) == 3)
    }

    @Test func signerRunsBeforeEveryAttempt() async throws {
        let server = try await TestHTTPServer.get()
        let id = Self.newID()
        let signer = CountingSigner()
        let response = try await withClient { try await $0.send(HTTPRequest(url: server.url("/flaky-503", id: id, "n=2")), signer: signer) }
        #expect(signer.calls == 3)
        #expect(try echo(of: response).header("X-Attempt") == "3")
        #expect(try await serverCount(server, id: id) == 3)
    }

    @Test func signerFailureIsTyped() async throws {
        let server = try await TestHTTPServer.get()
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient { try await $0.send(HTTPRequest(url: server.url("/ok", id: Self.newID())), signer: FailingSigner()) }
        }
        guard case .signingFailed? = error else {
            Issue.record("expected signingFailed, got \(String(describing: error))")
            return
        }
    }

    // MARK: - Transport errors

    @Test func totalTimeoutFailsFastWithTimeoutError() async throws {
        let server = try await TestHTTPServer.get()
        let started = ContinuousClock.now
        // The server would answer after 30 s; the 300 ms timeout ends the wait long before (the bound
        // leaves room for a loaded machine: the whole test suite runs in parallel).
        let request = HTTPRequest(url: server.url("/slow", id: Self.newID(), "ms=30000"), totalTimeout: .milliseconds(300))
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient(retry: .none) { try await $0.send(request) }
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        guard case .transport(let failure, let attempts)? = error else {
            Issue.record("expected a transport error, got \(String(describing: error))")
            return
        }
        #expect(failure.kind == .timeout)
        #expect(failure.code == 28)
        #expect(attempts == 1)
        #expect(failure.isRetriable)
        #expect(!failure.detail.isEmpty)
    }

    @Test func refusedConnectionIsAConnectErrorAndRetried() async throws {
        let port = try LoopbackNetwork.freePort()
        let policy = RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maximumDelay: .milliseconds(50))
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient(retry: policy) { try await $0.send(HTTPRequest(url: "http://127.0.0.1:\(port)/nothing")) }
        }
        guard case .transport(let failure, let attempts)? = error else {
            Issue.record("expected a transport error, got \(String(describing: error))")
            return
        }
        #expect(failure.kind == .connect)
        #expect(failure.code == 7)
        #expect(attempts == 3)
        #expect(failure.detail.contains("\(port)"))
        #expect(error?.description.contains("Check the host and port") == true)
    }

    @Test func onlyHTTPAndHTTPSAreAccepted() async throws {
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient { try await $0.send(HTTPRequest(url: "file:///etc/passwd")) }
        }
        guard case .invalidRequest? = error else {
            Issue.record("expected invalidRequest, got \(String(describing: error))")
            return
        }
    }

    @Test func headerInjectionIsRejected() async throws {
        let server = try await TestHTTPServer.get()
        let request = HTTPRequest(url: server.url("/ok", id: Self.newID()), headers: ["X-Bad": "a\r\nInjected: yes"])
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient { try await $0.send(request) }
        }
        guard case .invalidRequest? = error else {
            Issue.record("expected invalidRequest, got \(String(describing: error))")
            return
        }
    }

    @Test func cancellingTheTaskAbortsTheTransfer() async throws {
        let server = try await TestHTTPServer.get()
        try await withClient { client in
            let started = ContinuousClock.now
            // The server would answer after 30 s; cancelling ends the transfer long before.
            let task = Task { try await client.send(HTTPRequest(url: server.url("/slow", id: Self.newID(), "ms=30000"))) }
            try await Task.sleep(for: .milliseconds(200))
            task.cancel()
            let result = await task.result
            #expect(ContinuousClock.now - started < .seconds(10))
            guard case .failure(let error) = result, case .cancelled? = error as? HTTPClientError else {
                Issue.record("expected cancelled, got \(result)")
                return
            }
        }
    }

    @Test func theCurlThreadStartsWithTheFirstRequest() async throws {
        let server = try await TestHTTPServer.get()
        let name = "paz-lazy-\(UInt16.random(in: 0...9_999))"
        let client = HTTPClient(configuration: .init(threadName: name), logger: LogCapture().logger)
        #expect(!Self.threadNames().contains(name), "a client that sent nothing runs no curl thread")
        let response = try await client.send(HTTPRequest(url: server.url("/ok", id: Self.newID())))
        #expect(response.status == 200)
        #expect(Self.threadNames().contains(name))
        await client.shutdown()
    }

    /// The names of this process's threads (`/proc/self/task/*/comm`).
    static func threadNames() -> Set<String> {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return Set(tasks.compactMap { task in
            (try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8))?
                .trimmingCharacters(in: .whitespacesAndNewlines)
        })
    }

    @Test func shutdownFailsRequestsInFlight() async throws {
        let server = try await TestHTTPServer.get()
        let client = HTTPClient(logger: LogCapture().logger)
        let task = Task { try await client.send(HTTPRequest(url: server.url("/slow", id: Self.newID(), "ms=5000"))) }
        try await Task.sleep(for: .milliseconds(200))
        await client.shutdown()
        let result = await task.result
        guard case .failure(let error) = result, case .shutDown? = error as? HTTPClientError else {
            Issue.record("expected shutDown, got \(result)")
            return
        }
        let afterShutdown = await #expect(throws: HTTPClientError.self) {
            _ = try await client.send(HTTPRequest(url: server.url("/ok", id: Self.newID())))
        }
        guard case .shutDown? = afterShutdown else {
            Issue.record("expected shutDown after shutdown, got \(String(describing: afterShutdown))")
            return
        }
    }

    // MARK: - Secrets

    @Test func secretsNeverReachTheLogs() async throws {
        let server = try await TestHTTPServer.get()
        let id = Self.newID()
        let logs = LogCapture()
        let secrets = [
            "tok-secret-1111", "apikey-secret-2222", "session-secret-3333", "sig-secret-4444", "cred-secret-5555",
            "sts-secret-6666", "client-secret-7777", "server-cookie-secret",
        ]
        let url = server.url(
            "/flaky-503", id: id,
            "n=1&X-Amz-Signature=sig-secret-4444&X-Amz-Credential=cred-secret-5555&X-Amz-Security-Token=sts-secret-6666"
        )
        var request = HTTPRequest(
            url: url,
            headers: ["X-Api-Key": "apikey-secret-2222", "Cookie": "session=session-secret-3333",
                      "X-Client-Secret": "client-secret-7777", "X-Visible": "visible-value"],
            sensitiveHeaders: ["x-api-key"]
        )
        request.headers.add("X-Amz-Security-Token", "sts-secret-6666")
        let response = try await withClient(logs: logs, sensitiveHeaders: ["X-Client-Secret"]) {
            try await $0.send(request, signer: BearerTokenSigner(token: "tok-secret-1111"))
        }

        // The request really carried the secrets…
        let echo = try echo(of: response)
        #expect(echo.header("Authorization") == "Bearer tok-secret-1111")
        #expect(echo.header("X-Api-Key") == "apikey-secret-2222")
        #expect(echo.header("Cookie") == "session=session-secret-3333")
        #expect(echo.header("X-Client-Secret") == "client-secret-7777")
        #expect(echo.query["X-Amz-Signature"] == "sig-secret-4444")
        #expect(response.headers["Set-Cookie"] == "session=server-cookie-secret")

        // …both attempts were logged in detail, and no secret is in any line.
        let text = logs.text
        #expect(logs.count >= 5)
        #expect(text.contains("/flaky-503"))
        #expect(text.contains("X-Visible: visible-value"))
        #expect(text.contains("Authorization: <redacted>"))
        #expect(text.contains("X-Amz-Signature=<redacted>"))
        #expect(text.contains("http.attempt=2"))
        #expect(text.contains("http.status=503"))
        for secret in secrets {
            #expect(!text.contains(secret), "log output contains \(secret)")
        }
    }

    @Test func redactedURLKeepsEverythingButSecrets() {
        let url = "https://user:pa55@ec2.local:8080/path/a?Action=RunInstances&X-Amz-Signature=abc&api_key=k&token=t&Version=1#frag"
        #expect(
            Redaction.url(url)
                == "https://<redacted>@ec2.local:8080/path/a?Action=RunInstances&X-Amz-Signature=<redacted>&api_key=<redacted>&token=<redacted>&Version=1#frag"
        )
        #expect(Redaction.url("http://127.0.0.1/plain") == "http://127.0.0.1/plain")
    }

    // MARK: - Retry-After parsing

    @Test func retryAfterParsesSecondsAndDates() throws {
        let now = Date(timeIntervalSince1970: 1_700_000_000)  // Tue, 14 Nov 2023 22:13:20 GMT
        #expect(RetryPolicy.parseRetryAfter("3", now: now) == .seconds(3))
        #expect(RetryPolicy.parseRetryAfter("Tue, 14 Nov 2023 22:13:25 GMT", now: now) == .seconds(5))
        #expect(RetryPolicy.parseRetryAfter("Tue, 14 Nov 2023 22:13:00 GMT", now: now) == .zero)
        #expect(RetryPolicy.parseRetryAfter("soon", now: now) == nil)
        #expect(RetryPolicy.parseRetryAfter("-1", now: now) == nil)

        let policy = RetryPolicy(maximumRetryAfter: .seconds(30))
        let throttled = HTTPResponse(status: 429, headers: ["Retry-After": "3600"], body: Data(), totalSeconds: 0)
        #expect(policy.delay(afterAttempt: 1, response: throttled, now: now) == .seconds(30))
    }

    @Test func backoffIsJitteredExponentialAndCapped() {
        let policy = RetryPolicy(baseDelay: .milliseconds(100), maximumDelay: .seconds(1))
        for _ in 0..<50 {
            let first = policy.backoff(afterAttempt: 1)
            #expect(first >= .milliseconds(50) && first <= .milliseconds(100))
            let third = policy.backoff(afterAttempt: 3)
            #expect(third >= .milliseconds(200) && third <= .milliseconds(400))
            let tenth = policy.backoff(afterAttempt: 10)
            #expect(tenth >= .milliseconds(500) && tenth <= .seconds(1))
        }
        let samples = Set((0..<20).map { _ in policy.backoff(afterAttempt: 2) })
        #expect(samples.count > 1, "backoff is not jittered")
    }

    // MARK: - Concurrency

    @Test func hundredConcurrentRequestsShareOneCurlThread() async throws {
        let server = try await TestHTTPServer.get()
        let id = Self.newID()
        let threadName = "paz-http-c100"
        let started = ContinuousClock.now
        let (results, curlThreadsMidway) = try await withClient(threadName: threadName) { client in
            try await withThrowingTaskGroup(of: (Int, HTTPResponse).self) { group in
                for index in 0..<100 {
                    group.addTask {
                        let request = HTTPRequest(
                            method: .post, url: server.url("/echo", id: id, "n=\(index)&ms=500"), body: Data("request \(index)".utf8)
                        )
                        return (index, try await client.send(request))
                    }
                }
                // While all 100 wait at the server, this client still has exactly one thread.
                try await Task.sleep(for: .milliseconds(250))
                let curlThreads = Self.threadCount(named: threadName)
                var results: [Int: HTTPResponse] = [:]
                for try await (index, response) in group { results[index] = response }
                return (results, curlThreads)
            }
        }
        let elapsed = ContinuousClock.now - started
        #expect(curlThreadsMidway == 1)
        #expect(results.count == 100)
        for (index, response) in results {
            let echo = try echo(of: response)
            #expect(response.status == 200)
            #expect(echo.query["n"] == "\(index)")
            #expect(echo.body == "request \(index)")
        }
        // Each request waits 500 ms at the server: one after another they would take 50 s.
        #expect(elapsed < .seconds(10))
        #expect(try await serverCount(server, id: id) == 100)
    }

    @Test func connectionsPerHostAreLimited() async throws {
        let server = try await TestHTTPServer.get()
        let id = Self.newID()
        let started = ContinuousClock.now
        let statuses = try await withClient(maxConnectionsPerHost: 2) { client in
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 {
                    group.addTask { try await client.send(HTTPRequest(url: server.url("/slow", id: id, "ms=300"))).status }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
        }
        // Six 300 ms requests over two connections: three rounds.
        #expect(statuses == Array(repeating: 200, count: 6))
        #expect(ContinuousClock.now - started >= .milliseconds(880))
    }

    /// Threads of this process whose name is `name` (from /proc/self/task/*/comm).
    static func threadCount(named name: String) -> Int {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/task")) ?? []
        return tasks.filter { task in
            let comm = try? String(contentsOfFile: "/proc/self/task/\(task)/comm", encoding: .utf8)
            return comm?.trimmingCharacters(in: .whitespacesAndNewlines) == name
        }.count
    }
}

/// Counts its calls and stamps the attempt number on the request.
///
/// `@unchecked Sendable`: `count` is read and written only while `lock` is held.
final class CountingSigner: HTTPRequestSigner, @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0

    var calls: Int {
        lock.lock()
        defer { lock.unlock() }
        return count
    }

    func sign(_ request: inout HTTPRequest, attempt: Int) async throws {
        lock.withLock { count += 1 }
        request.headers.set("X-Attempt", "\(attempt)")
    }
}

/// A signer whose credentials are missing.
struct FailingSigner: HTTPRequestSigner {
    struct MissingCredentials: Error {}

    func sign(_ request: inout HTTPRequest, attempt: Int) async throws {
        throw MissingCredentials()
    }
}
