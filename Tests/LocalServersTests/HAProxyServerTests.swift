import Foundation
import PazLocalServers
import Testing

/// `python3 -m http.server` on loopback, serving one file, `/who`, that names the server.
private struct NamedServer {
    let port: Int
    let process: ManagedProcess
    let directory: URL

    static func start(_ name: String) async throws -> NamedServer {
        let directory = try ScratchDirectory.make(prefix: "paz-named-\(name)")
        try Data(name.utf8).write(to: directory.appendingPathComponent("who"))
        let port = try LoopbackNetwork.freePort()
        let process = try ManagedProcess(
            executable: "python3", arguments: ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", directory.path],
            logFile: directory.appendingPathComponent("server.log"))
        try await LoopbackNetwork.waitUntilListening(
            host: "127.0.0.1", port: port, timeout: .seconds(10), whileRunning: process, server: "http.server \(name)")
        return NamedServer(port: port, process: process, directory: directory)
    }

    func stop() async {
        await process.kill()
        try? FileManager.default.removeItem(at: directory)
    }
}

@Suite("HAProxy in front of loopback servers")
struct HAProxyServerTests {
    private static func who(_ proxy: HAProxyServer) async throws -> LoopbackHTTP.Reply {
        try await LoopbackHTTP.send("GET", "http://127.0.0.1:\(proxy.port)/who", timeout: .seconds(5), server: "haproxy")
    }

    @Test("requests go round-robin to both servers; after one is killed every request is still answered, by the other")
    func routesAroundAKilledServer() async throws {
        let a = try await NamedServer.start("a")
        let b = try await NamedServer.start("b")
        let proxy = try await HAProxyServer.start(
            backends: [.init(name: "a", port: a.port), .init(name: "b", port: b.port)], checkPath: "/who")
        do {
            // Both pass their checks (two in a row, 200 ms apart), then share the requests.
            var seen: Set<String> = []
            let deadline = ContinuousClock.now + .seconds(10)
            while seen.count < 2, ContinuousClock.now < deadline {
                let reply = try await Self.who(proxy)
                if reply.status == 200 { seen.insert(reply.body) }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(seen == ["a", "b"])

            await a.stop()
            // At once, before any check noticed: a refused connection is sent again, to b.
            var answers: [String] = []
            for _ in 0..<50 {
                let reply = try await Self.who(proxy)
                #expect(reply.status == 200, "\(reply.status) \(reply.body)")
                answers.append(reply.body)
            }
            #expect(Set(answers) == ["b"])

            // With both gone the proxy answers 503 itself: an answer, which LoopbackHTTP returns.
            await b.stop()
            let none = try await Self.who(proxy)
            #expect(none.status == 503, "\(none.status) \(none.body)")
        } catch {
            await proxy.stop()
            await a.stop()
            await b.stop()
            throw error
        }
        await proxy.stop()
    }

    @Test("a bad server name or check path is refused before anything starts")
    func badSettings() async {
        await #expect(throws: LocalServerError.self) {
            _ = try await HAProxyServer.start(backends: [.init(name: "a b", port: 1)])
        }
        await #expect(throws: LocalServerError.self) {
            _ = try await HAProxyServer.start(backends: [.init(name: "a", port: 1)], checkPath: "/x\nserver evil")
        }
        await #expect(throws: LocalServerError.self) { _ = try await HAProxyServer.start(backends: []) }
    }
}
