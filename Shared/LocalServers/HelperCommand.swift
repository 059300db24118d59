import Foundation

/// Runs a short helper program (ssh-keygen, useradd, chown) to completion, capturing its output.
/// For commands that finish in milliseconds (it blocks the calling thread); servers are started with
/// ``ManagedProcess``.
package enum HelperCommand {
    /// Runs `name` with `arguments`; throws unless it exits 0.
    package static func run(_ name: String, _ arguments: [String]) throws(LocalServerError) {
        let (status, output) = try execute(name, arguments)
        guard status == 0 else {
            throw .commandFailed(([name] + arguments).joined(separator: " "), status: status, output: output)
        }
    }

    /// Runs `name` with `arguments` and returns its exit status.
    package static func status(_ name: String, _ arguments: [String]) throws(LocalServerError) -> Int32 {
        try execute(name, arguments).status
    }

    /// Runs `name` with `arguments` (`environment` added to ours) without blocking a thread, for
    /// programs that may take seconds (python3, ssh, rabbitmqctl): its exit status (-1 when it was
    /// killed at `timeout`) and its output, stdout and stderr together.
    package static func result(
        _ name: String, _ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(60)
    ) async throws(LocalServerError) -> (status: Int32, output: String) {
        let directory = try ScratchDirectory.make(prefix: "paz-helper")
        defer { try? FileManager.default.removeItem(at: directory) }
        let outputFile = directory.appendingPathComponent("output")
        let process = try ManagedProcess(executable: name, arguments: arguments, environment: environment, logFile: outputFile)
        let status = await process.exitCode(within: timeout)
        if status == nil { await process.kill() }
        return (status ?? -1, (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "")
    }

    /// Output goes to a scratch file, not a pipe: a pipe's write end would leak into a server spawned
    /// concurrently by another thread, and reading to end-of-file would then hang until that server exits.
    private static func execute(_ name: String, _ arguments: [String]) throws(LocalServerError) -> (status: Int32, output: String) {
        let directory = try ScratchDirectory.make(prefix: "paz-helper")
        defer { try? FileManager.default.removeItem(at: directory) }
        let outputFile = directory.appendingPathComponent("output")
        let process = try ManagedProcess(executable: name, arguments: arguments, logFile: outputFile)
        let status = process.waitUntilExit()
        let output = (try? String(contentsOf: outputFile, encoding: .utf8)) ?? ""
        return (status, output)
    }
}
