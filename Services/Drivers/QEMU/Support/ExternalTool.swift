import Foundation
import PazLocalServers

/// What a finished external program left.
package struct ExternalToolResult: Sendable, Equatable {
    /// The exit status (128 + the signal's number when a signal ended it).
    package var status: Int32
    package var standardOutput: String
    package var standardError: String

    package init(status: Int32, standardOutput: String, standardError: String) {
        self.status = status
        self.standardOutput = standardOutput
        self.standardError = standardError
    }

    /// The command exited 0.
    package var succeeded: Bool { status == 0 }
}

/// Why an external program could not be run.
package enum ExternalToolError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The program is not installed.
    case notFound(String)
    /// It could not be started.
    case launchFailed(command: String, reason: String)
    /// It ran longer than allowed and was killed.
    case timedOut(command: String, after: Duration)

    package var description: String {
        switch self {
        case .notFound(let name):
            "\(name) is not installed" + (ExternalTool.packages[name].map { " (apt-get install \($0))" } ?? "")
        case .launchFailed(let command, let reason): "could not start \(command): \(reason)"
        case .timedOut(let command, let after): "\(command) did not finish within \(after) and was killed"
        }
    }
}

/// Runs the programs the QEMU driver drives (qemu-img, genisoimage, qemu-system, vde_switch) to
/// completion. They start through ``ManagedProcess`` (clean signal mask, own process group, none of
/// our descriptors inherited — a daemonizing QEMU keeps nothing of ours open); the blocking wait runs
/// on a thread of its own, never on the cooperative pool.
package enum ExternalTool {
    /// Debian packages of the programs this driver uses, for "not installed" messages.
    static let packages = [
        "qemu-system-x86_64": "qemu-system-x86", "qemu-img": "qemu-utils", "genisoimage": "genisoimage",
        "vde_switch": "vde2", "xorriso": "xorriso", "mkisofs": "genisoimage", "isoinfo": "genisoimage",
    ]

    /// Finds `name` on PATH and in the sbin directories.
    package static func locate(_ name: String) -> String? {
        ManagedProcess.locate(name)
    }

    /// Runs `executable` with `arguments`; kills it after `timeout`.
    package static func run(
        _ executable: String, _ arguments: [String], timeout: Duration = .seconds(60)
    ) async throws(ExternalToolError) -> ExternalToolResult {
        guard let path = locate(executable) else { throw .notFound(executable) }
        let command = ([executable] + arguments).joined(separator: " ")
        let directory: URL
        do {
            directory = try ScratchDirectory.make(prefix: "paz-tool")
        } catch {
            throw .launchFailed(command: command, reason: "\(error)")
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        let stdoutFile = directory.appendingPathComponent("stdout")
        let stderrFile = directory.appendingPathComponent("stderr")
        let process: ManagedProcess
        do {
            process = try ManagedProcess(executable: path, arguments: arguments, logFile: stdoutFile, errorFile: stderrFile)
        } catch {
            throw .launchFailed(command: command, reason: "\(error)")
        }
        // The first child to finish decides: the exit (then the sleep is cancelled) or the timeout
        // (then the process group is killed and its exit awaited).
        let exit = await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await waitOnThread(process) }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next()!
            if first == nil { process.signalGroup(SIGKILL) }
            group.cancelAll()
            _ = await group.next()
            return first
        }
        guard let status = exit else { throw .timedOut(command: command, after: timeout) }
        let stdout = (try? String(contentsOf: stdoutFile, encoding: .utf8)) ?? ""
        let stderr = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
        return ExternalToolResult(status: status, standardOutput: stdout, standardError: stderr)
    }

    /// Waits for `process` on a thread of its own.
    private static func waitOnThread(_ process: ManagedProcess) async -> Int32 {
        await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: process.waitUntilExit()) }
            thread.name = "paz-tool-wait"
            thread.start()
        }
    }
}
