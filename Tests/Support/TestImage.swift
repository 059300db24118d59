package import Foundation
package import PazLocalServers

/// The Debian 12 test image `deploy/images/build-debian-test-image.sh` builds (nothing can be
/// downloaded here), built at most once per run and cached between runs by the script itself.
package struct TestImage: Sendable {
    /// The qcow2 file.
    package let file: URL
    /// Its SHA-256, hex.
    package let sha256: String

    private static let fixture = SharedFixture<TestImage> {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy/images/build-debian-test-image.sh")
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("paz-test-image-build.log")
        let process = try ManagedProcess(executable: script.path, arguments: [], logFile: log)
        let status = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: process.waitUntilExit()) }.start()
        }
        let output = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        guard status == 0, let last = output.split(separator: "\n").last.map(String.init),
              FileManager.default.fileExists(atPath: last) else {
            throw LocalServerError.commandFailed(script.path, status: status, output: String(output.suffix(3000)))
        }
        let digestLine = try String(contentsOfFile: last + ".sha256", encoding: .utf8)
        let digest = String(digestLine.prefix { !$0.isWhitespace })
        return TestImage(file: URL(fileURLWithPath: last), sha256: digest)
    }

    /// The image, built first when no valid one is cached (about a minute).
    package static func debian() async throws -> TestImage {
        try await fixture.value()
    }
}

/// A static file server on a free loopback port (Python's `http.server`), serving one directory.
package struct TestFileServer: Sendable {
    package let port: Int
    package let process: ManagedProcess

    /// Serves `directory` on 127.0.0.1 until the test process exits (or ``stop()``).
    package static func start(serving directory: URL) async throws -> TestFileServer {
        let port = try LoopbackNetwork.freePort()
        let scratch = try ScratchDirectory.make(prefix: "paz-file-server")
        FixtureCleanup.removeAtExit(scratch)
        let process = try ManagedProcess(
            executable: "python3", arguments: ["-m", "http.server", "--bind", "127.0.0.1", "--directory", directory.path, String(port)],
            logFile: scratch.appendingPathComponent("server.log"))
        FixtureCleanup.stopAtExit(process)
        try await LoopbackNetwork.waitUntilListening(
            host: "127.0.0.1", port: port, timeout: .seconds(20), whileRunning: process, server: "python3 http.server")
        return TestFileServer(port: port, process: process)
    }

    /// The URL of `name` in the served directory.
    package func url(_ name: String) -> String { "http://127.0.0.1:\(port)/\(name)" }

    package func stop() async { await process.stop() }
}
