import Foundation
import Logging
import PazHTTP
import PazLocalServers
import PazTestSupport

/// The scripted HTTP server (Server/http_test_server.py, Python's stdlib ThreadingHTTPServer) on a free
/// 127.0.0.1 port, started once per test run. Tests keep their counts apart with a unique `id` query value.
struct TestHTTPServer: Sendable {
    let baseURL: String

    static let shared = SharedFixture<TestHTTPServer> { try await TestHTTPServer.start() }

    /// The shared instance.
    static func get() async throws -> TestHTTPServer {
        try await shared.value()
    }

    /// `baseURL` + `path` + `?id=<testID>` + extra query.
    func url(_ path: String, id: String, _ query: String = "") -> String {
        "\(baseURL)\(path)?id=\(id)" + (query.isEmpty ? "" : "&\(query)")
    }

    private static func start() async throws -> TestHTTPServer {
        guard let script = Bundle.module.url(forResource: "http_test_server", withExtension: "py", subdirectory: "Server") else {
            throw LocalServerError.filesystem("http_test_server.py is missing from the HTTPTests resources")
        }
        let directory = try ScratchDirectory.make(prefix: "paz-http-test-server")
        let port = try LoopbackNetwork.freePort()
        let process = try ManagedProcess(
            executable: "python3",
            arguments: ["-u", script.path, "--port", "\(port)"],
            logFile: directory.appendingPathComponent("server.log")
        )
        FixtureCleanup.stopAtExit(process)
        try await LoopbackNetwork.waitUntilListening(
            host: "127.0.0.1", port: port, timeout: .seconds(15), whileRunning: process, server: "http_test_server.py"
        )
        return TestHTTPServer(baseURL: "http://127.0.0.1:\(port)")
    }
}

/// What `/echo` (and the flaky endpoints once they succeed) report about the request they received.
struct Echo: Decodable {
    let method: String
    let path: String
    let query: [String: String]
    let headers: [[String]]
    let body: String

    /// The first value of header `name` (any case) as the server saw it.
    func header(_ name: String) -> String? {
        values(name).first
    }

    /// Every value of header `name` (any case), in the order the server saw them.
    func values(_ name: String) -> [String] {
        headers.filter { $0.first?.lowercased() == name.lowercased() }.compactMap(\.last)
    }
}

/// Runs `body` with a client of `configuration` and shuts the client down afterwards (also when `body` throws).
func withHTTPClient<T>(
    _ configuration: HTTPClient.Configuration, logger: Logger, _ body: (HTTPClient) async throws -> T
) async throws -> T {
    let client = HTTPClient(configuration: configuration, logger: logger)
    do {
        let result = try await body(client)
        await client.shutdown()
        return result
    } catch {
        await client.shutdown()
        throw error
    }
}
