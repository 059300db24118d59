import Foundation
@testable import PazMachineCLI
import Testing

/// Runs the built `paz-machine` (next to the test bundle) and returns its exit code, stdout and stderr.
private func runCLI(_ arguments: [String], environment: [String: String]) throws -> (status: Int32, out: String, err: String) {
    let executable = CLIContext.runningExecutable().deletingLastPathComponent().appendingPathComponent("paz-machine")
    try #require(FileManager.default.isExecutableFile(atPath: executable.path), "build paz-machine first (swift build --product paz-machine)")
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = environment
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

@Suite("The paz-machine executable")
struct ExecutableTests {
    @Test("not logged in: exit 1 and what to do, on stderr only")
    func notLoggedIn() throws {
        let directory = try temporaryDirectory("exe")
        defer { try? FileManager.default.removeItem(at: directory) }
        let result = try runCLI(["ls"], environment: ["XDG_CONFIG_HOME": directory.path, "HOME": directory.path])
        #expect(result.status == 1)
        #expect(result.out.isEmpty)
        #expect(result.err.hasPrefix("error: not logged in: run `paz-machine login --gateway"))
    }

    @Test("an unreachable gateway: exit 1, the address and advice")
    func unreachable() throws {
        let directory = try temporaryDirectory("exe")
        defer { try? FileManager.default.removeItem(at: directory) }
        // Port 1 on loopback: nothing listens there.
        let result = try runCLI(
            ["status", "--gateway", "http://127.0.0.1:1", "--output", "json"],
            environment: ["XDG_CONFIG_HOME": directory.path, "HOME": directory.path, "PAZ_TOKEN": "pazt_x"])
        #expect(result.status == 1)
        #expect(result.out.isEmpty)
        #expect(result.err.contains("error: cannot reach the gateway http://127.0.0.1:1"), "\(result.err)")
        #expect(!result.err.contains("pazt_x"))
    }

    @Test("usage errors exit 64 with the parser's message")
    func usage() throws {
        let result = try runCLI(["cluster", "create"], environment: [:])
        #expect(result.status == 64)
        #expect(result.err.contains("--driver"))
    }
}
