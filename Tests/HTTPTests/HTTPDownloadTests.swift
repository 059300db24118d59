import Foundation
import PazHTTP
import PazTestSupport
import Synchronization
import Testing

/// `HTTPClient.download` against the scripted server (Server/http_test_server.py).
@Suite("HTTP downloads")
struct HTTPDownloadTests {
    /// Runs `body` with a fresh client (low-speed limit of 1 KB/s over 1 s) and shuts it down afterwards.
    func withClient<T>(_ body: (HTTPClient) async throws -> T) async throws -> T {
        try await withHTTPClient(
            .init(
                // 3 s below 1 KiB/s: a loaded CI machine starved the test server for over 1 s.
                connectTimeout: .seconds(5), totalTimeout: .seconds(2), downloadLowSpeedLimit: 1024,
                downloadLowSpeedTime: .seconds(3), threadName: "paz-http-dl-test"
            ),
            logger: LogCapture().logger, body)
    }

    /// A sink that keeps every chunk, and how many chunks it saw.
    final class Collector: Sendable {
        private let state = Mutex<(bytes: [UInt8], chunks: Int)>(([], 0))
        var bytes: [UInt8] { state.withLock { $0.bytes } }
        var chunks: Int { state.withLock { $0.chunks } }

        func sink(stopAfter limit: Int = .max) -> @Sendable ([UInt8]) -> Bool {
            { chunk in
                self.state.withLock { state in
                    state.chunks += 1
                    state.bytes += chunk
                    return state.chunks < limit
                }
            }
        }
    }

    /// What /bytes?size=`size` serves.
    static func pattern(_ size: Int) -> [UInt8] {
        (0..<size).map { UInt8($0 % 251) }
    }

    static func newID() -> String { UUID().uuidString }

    /// Requests the server saw with `id`.
    static func count(_ server: TestHTTPServer, id: String) async throws -> Int {
        let client = HTTPClient(logger: LogCapture().logger)
        let response = try await client.send(HTTPRequest(url: server.url("/count", id: id)))
        await client.shutdown()
        return try #require(Int(response.bodyText.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    @Test func streamedBodyEqualsServedBytes() async throws {
        let server = try await TestHTTPServer.get()
        let size = 5 * 1024 * 1024
        let collector = Collector()
        // 5 MB at loopback speed: the 2 s total timeout of API calls does not apply, and neither
        // would any other total timeout.
        let head = try await withClient {
            try await $0.download(HTTPRequest(url: server.url("/bytes", id: Self.newID(), "size=\(size)")), into: collector.sink())
        }
        #expect(head.status == 200)
        #expect(head.headers["content-length"] == "\(size)")
        #expect(collector.chunks > 1)
        #expect(collector.bytes == Self.pattern(size))
    }

    @Test func redirectsAreFollowed() async throws {
        let server = try await TestHTTPServer.get()
        let collector = Collector()
        let head = try await withClient {
            try await $0.download(
                HTTPRequest(url: server.url("/redirect", id: Self.newID(), "to=/bytes&hops=3&size=1000")), into: collector.sink()
            )
        }
        #expect(head.status == 200)
        #expect(collector.bytes == Self.pattern(1000))
    }

    @Test func moreThanFiveRedirectsFail() async throws {
        let server = try await TestHTTPServer.get()
        let id = Self.newID()
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient {
                try await $0.download(
                    HTTPRequest(url: server.url("/redirect", id: id, "to=/bytes&hops=6&size=10")), into: Collector().sink()
                )
            }
        }
        guard case .tooManyRedirects(5)? = error else {
            Issue.record("expected tooManyRedirects(5), got \(String(describing: error))")
            return
        }
        #expect(try await Self.count(server, id: id) == 6)  // the first request and five redirects, not the seventh
    }

    @Test func everyRedirectHopIsCheckedBeforeItIsRequested() async throws {
        let server = try await TestHTTPServer.get()
        let id = Self.newID()
        let seen = Mutex<[String]>([])
        let collector = Collector()
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient {
                try await $0.download(
                    HTTPRequest(url: server.url("/redirect", id: id, "to=/bytes&hops=2&size=10")),
                    allowRedirect: { url in
                        seen.withLock { $0.append(url) }
                        return url.contains("/redirect?")  // the second hop goes to /bytes: refused
                    },
                    into: collector.sink())
            }
        }
        guard case .redirectRefused(let target)? = error else {
            Issue.record("expected redirectRefused, got \(String(describing: error))")
            return
        }
        let hops = seen.withLock { $0 }
        #expect(hops.count == 2)
        #expect(hops.allSatisfy { $0.hasPrefix(server.baseURL + "/") })  // absolute, resolved against the server
        #expect(target.contains("/bytes?"))
        #expect(collector.bytes.isEmpty)
        #expect(try await Self.count(server, id: id) == 2)  // /redirect twice; /bytes never requested
    }

    @Test func headersAndSigningFollowARedirectOnlyWithinOneOrigin() async throws {
        let server = try await TestHTTPServer.get()
        let port = try #require(URL(string: server.baseURL)?.port)
        func echoedCredentials(to target: String) async throws -> [String] {
            let collector = Collector()
            var request = HTTPRequest(url: server.url("/redirect", id: Self.newID(), "to=\(target)"))
            request.headers.add("X-Paz-Token", "t-123")
            request.awsSigV4 = AWSSigV4Settings(
                credentials: AWSCredentials(accessKeyId: "AKIDPAZTEST", secretAccessKey: "s-456"), region: "us-east-1", service: "s3"
            )
            _ = try await withClient { try await $0.download(request, into: collector.sink()) }
            let echo = try JSONDecoder().decode(Echo.self, from: Data(collector.bytes))
            return echo.values("X-Paz-Token") + echo.values("Authorization").map { $0.hasPrefix("AWS4-HMAC-SHA256 ") ? "sigv4" : $0 }
        }
        #expect(try await echoedCredentials(to: "/echo") == ["t-123", "sigv4"])
        // localhost is another origin than 127.0.0.1 (the same loopback server).
        let other = "http://localhost:\(port)/echo".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
        #expect(try await echoedCredentials(to: other) == [])
    }

    @Test(arguments: [404, 500])
    func errorStatusThrowsAndSinkSeesNothing(status: Int) async throws {
        let server = try await TestHTTPServer.get()
        let collector = Collector()
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient {
                try await $0.download(HTTPRequest(url: server.url("/status", id: Self.newID(), "code=\(status)")), into: collector.sink())
            }
        }
        guard case .badStatus(let received)? = error else {
            Issue.record("expected badStatus, got \(String(describing: error))")
            return
        }
        #expect(received == status)
        #expect(error?.isRetriable == (status == 500))
        #expect(collector.chunks == 0)
    }

    @Test func missingPathIsBadStatus404() async throws {
        let server = try await TestHTTPServer.get()
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient {
                try await $0.download(HTTPRequest(url: server.url("/no-such-image", id: Self.newID())), into: Collector().sink())
            }
        }
        guard case .badStatus(404)? = error else {
            Issue.record("expected badStatus(404), got \(String(describing: error))")
            return
        }
        #expect(error?.description.contains("404") == true)
    }

    @Test func sinkReturningFalseAborts() async throws {
        let server = try await TestHTTPServer.get()
        let collector = Collector()
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient {
                try await $0.download(
                    HTTPRequest(url: server.url("/bytes", id: Self.newID(), "size=\(4 * 1024 * 1024)")), into: collector.sink(stopAfter: 2)
                )
            }
        }
        guard case .stoppedBySink? = error else {
            Issue.record("expected stoppedBySink, got \(String(describing: error))")
            return
        }
        #expect(collector.chunks == 2)
    }

    @Test func stalledDownloadHitsTheLowSpeedLimit() async throws {
        let server = try await TestHTTPServer.get()
        let started = ContinuousClock.now
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient {
                try await $0.download(HTTPRequest(url: server.url("/stall", id: Self.newID(), "ms=20000")), into: Collector().sink())
            }
        }
        guard case .transport(let failure, _)? = error else {
            Issue.record("expected a transport error, got \(String(describing: error))")
            return
        }
        #expect(failure.kind == .timeout)
        // The limit (3 s below 1 KiB/s) ended it, long before the server's 20 s stall did.
        #expect(ContinuousClock.now - started < .seconds(12))
    }

    @Test func fileURLsAreForDownloadsOnly() async throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("paz-download-\(Self.newID())")
        try Data(Self.pattern(70_000)).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let collector = Collector()
        let head = try await withClient { try await $0.download(HTTPRequest(url: file.absoluteString), into: collector.sink()) }
        #expect(head.status == 0)
        #expect(collector.bytes == Self.pattern(70_000))

        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient { try await $0.send(HTTPRequest(url: file.absoluteString)) }
        }
        guard case .invalidRequest? = error else {
            Issue.record("expected invalidRequest, got \(String(describing: error))")
            return
        }
    }

    @Test func otherSchemesAreRejected() async throws {
        let error = await #expect(throws: HTTPClientError.self) {
            _ = try await withClient { try await $0.download(HTTPRequest(url: "ftp://127.0.0.1/image"), into: Collector().sink()) }
        }
        guard case .invalidRequest? = error else {
            Issue.record("expected invalidRequest, got \(String(describing: error))")
            return
        }
    }
}
