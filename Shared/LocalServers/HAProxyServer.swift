package import Foundation

/// HAProxy (the Debian package) on a free 127.0.0.1 port in front of HTTP servers on loopback: the
/// way the cluster topology puts one address in front of several gateways.
///
/// Requests go round-robin to the servers whose readiness check passes (`GET <checkPath>` on each
/// server's check port, every 200 ms; two failures take a server out, two successes bring it back).
/// A request whose connection to a server failed (nothing was sent) is sent again, to another server
/// (`retry-on conn-failure`, `option redispatch`): a dead server costs a client nothing but latency.
/// Requests already sent when a server dies are not repeated: they may have taken effect, and only
/// the client (with its `Idempotency-Key`) can safely send them again.
package final class HAProxyServer: Sendable {
    /// One server behind the proxy.
    package struct Backend: Sendable {
        /// Shown in HAProxy's logs and stats.
        package var name: String
        /// Where requests go (127.0.0.1).
        package var port: Int
        /// Where the readiness check goes (the service's ops port); `port` when nil.
        package var checkPort: Int?

        package init(name: String, port: Int, checkPort: Int? = nil) {
            self.name = name
            self.port = port
            self.checkPort = checkPort
        }
    }

    /// Always 127.0.0.1.
    package let host = "127.0.0.1"
    /// Where clients connect.
    package let port: Int
    private let directory: URL
    private let ownsDirectory: Bool
    private let slot = ProcessSlot()

    /// Starts HAProxy in front of `backends`, checking each with `GET checkPath`, and waits until it
    /// accepts connections. `port` defaults to a free one; `directory` (config and log) to a scratch
    /// directory, which ``stop()`` removes.
    ///
    /// With `sendWhenAllDown`, requests still go to the servers (round-robin, unchecked) while every one
    /// fails its check, so clients get the servers' own answers (such as a gateway's 503 problem with
    /// `Retry-After` while Redis fails over) instead of HAProxy's bare 503.
    package static func start(
        backends: [Backend], checkPath: String = "/readyz", sendWhenAllDown: Bool = false, port: Int? = nil, directory: URL? = nil
    ) async throws(LocalServerError) -> HAProxyServer {
        guard !backends.isEmpty else { throw .invalidSetting("HAProxy needs at least one backend") }
        guard checkPath.hasPrefix("/"), checkPath.allSatisfy({ $0.isLetter || $0.isNumber || "/-_.".contains($0) }) else {
            throw .invalidSetting("HAProxy check path '\(checkPath)': a plain absolute path")
        }
        guard backends.allSatisfy({ $0.name.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } }) else {
            throw .invalidSetting("HAProxy server names: letters, digits and '-'")
        }
        let chosenPort = if let port { port } else { try LoopbackNetwork.freePort() }
        let chosenDirectory = if let directory { directory } else { try ScratchDirectory.make(prefix: "paz-haproxy") }
        let server = HAProxyServer(port: chosenPort, directory: chosenDirectory, ownsDirectory: directory == nil)
        try server.writeConfiguration(backends: backends, checkPath: checkPath, sendWhenAllDown: sendWhenAllDown)
        try await server.launch()
        return server
    }

    private init(port: Int, directory: URL, ownsDirectory: Bool) {
        self.port = port
        self.directory = directory
        self.ownsDirectory = ownsDirectory
    }

    /// The current process, for `FixtureCleanup` and diagnostics.
    package var process: ManagedProcess? { slot.current }

    private var configurationFile: URL { directory.appendingPathComponent("haproxy.cfg") }

    /// Stops HAProxy and removes its directory if it was a scratch one.
    package func stop() async {
        if let process = slot.take() {
            await process.stop(timeout: .seconds(2))
        }
        if ownsDirectory { try? FileManager.default.removeItem(at: directory) }
    }

    private func launch() async throws(LocalServerError) {
        // -db: stay in the foreground, our child.
        try await slot.launch(
            "haproxy", ["-db", "-f", configurationFile.path], logFile: directory.appendingPathComponent("haproxy.log"),
            server: "haproxy", address: "\(host):\(port)", timeout: .seconds(10)
        ) { LoopbackNetwork.canConnect(host: host, port: port) }
    }

    private func writeConfiguration(backends: [Backend], checkPath: String, sendWhenAllDown: Bool) throws(LocalServerError) {
        var lines = [
            "global",
            "    maxconn 4096",
            "    log stderr format short local0 warning",
            "defaults",
            "    mode http",
            "    log global",
            "    timeout connect 1s",
            "    timeout client 60s",
            "    timeout server 60s",
            // Only a connection that failed is tried again (nothing was sent), on another server.
            "    retries 3",
            "    retry-on conn-failure",
            "    option redispatch 1",
            "frontend paz",
            "    bind 127.0.0.1:\(port)",
            "    default_backend servers",
            "backend servers",
            "    balance roundrobin",
            "    option httpchk GET \(checkPath)",
            "    http-check expect status 200",
            "    default-server inter 200ms fall 2 rise 2",
        ]
        for backend in backends {
            let check = backend.checkPort.map { " port \($0)" } ?? ""
            lines.append("    server \(backend.name) 127.0.0.1:\(backend.port) check\(check)")
        }
        if sendWhenAllDown {
            // Backup servers take traffic only when no checked server is up; `allbackups` spreads it.
            lines.append("    option allbackups")
            for backend in backends { lines.append("    server \(backend.name)-unchecked 127.0.0.1:\(backend.port) backup") }
        }
        let text = lines.joined(separator: "\n") + "\n"
        guard FileManager.default.createFile(atPath: configurationFile.path, contents: Data(text.utf8)) else {
            throw .filesystem("could not write \(configurationFile.path)")
        }
    }
}
