import Foundation
import PazLocalServers
import Testing

/// The built `paz-machine` run as a user runs it: its own environment, stdout and stderr kept apart.
struct CLIProcess: Sendable {
    /// The result of one command.
    struct Result: Sendable {
        var status: Int32
        var out: String
        var err: String

        /// stdout parsed as a JSON object (`--output json`).
        func object() throws -> [String: Any] {
            try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any], "not a JSON object: \(out)")
        }
    }

    /// `paz-machine`, next to the test bundle in the build directory.
    let executable: URL
    /// XDG_CONFIG_HOME, HOME and any setting the test wants the CLI (and the stack it starts) to see.
    let environment: [String: String]

    init(environment: [String: String]) throws {
        let link = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        executable = URL(fileURLWithPath: link).deletingLastPathComponent().appendingPathComponent("paz-machine")
        try #require(FileManager.default.isExecutableFile(atPath: executable.path),
                     "build the products first: swift build --build-tests")
        self.environment = environment
    }

    /// Runs `paz-machine arguments…` to its end. Output goes to files, not pipes: `up` leaves daemons
    /// running, and a pipe they inherited would never reach end-of-file.
    func run(_ arguments: [String], extraEnvironment: [String: String] = [:]) async throws -> Result {
        let directory = try ScratchDirectory.make(prefix: "paz-e2e-cli")
        defer { try? FileManager.default.removeItem(at: directory) }
        let outFile = directory.appendingPathComponent("out")
        let errFile = directory.appendingPathComponent("err")
        _ = FileManager.default.createFile(atPath: outFile.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errFile.path, contents: nil)
        let out = try FileHandle(forWritingTo: outFile)
        let err = try FileHandle(forWritingTo: errFile)
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        process.environment = ["PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
            .merging(environment) { $1 }.merging(extraEnvironment) { $1 }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = out
        process.standardError = err
        // Waits without holding a thread of the cooperative pool.
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            process.terminationHandler = { _ in done.resume() }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                done.resume()
            }
        }
        try #require(process.processIdentifier != 0, "paz-machine could not be started")
        try out.close()
        try err.close()
        return Result(
            status: process.terminationStatus,
            out: try String(contentsOf: outFile, encoding: .utf8),
            err: try String(contentsOf: errFile, encoding: .utf8))
    }
}
