package import Foundation

/// A child process started by this program (a server for the local stack or a test fixture).
///
/// Output goes to a log file, never to our own stdout. The process is stopped with ``stop(timeout:)``
/// (SIGTERM, then SIGKILL) or killed at once with ``kill()`` to simulate a crash.
package final class ManagedProcess: @unchecked Sendable {
    // @unchecked Sendable: `process` is a Foundation object whose methods used here are thread-safe;
    // nothing else is mutable.
    private let process: Process
    /// The executable's path, for messages.
    package let executable: String
    /// Where stdout and stderr were written.
    package let logFile: URL

    /// Starts `executable` with `arguments`; `environment` is added to the inherited one.
    package init(
        executable: String,
        arguments: [String],
        environment: [String: String] = [:],
        logFile: URL,
        workingDirectory: URL? = nil
    ) throws(LocalServerError) {
        guard let path = ManagedProcess.locate(executable) else {
            throw .missingExecutable(executable)
        }
        self.executable = path
        self.logFile = logFile
        guard FileManager.default.createFile(atPath: logFile.path, contents: nil) else {
            throw .filesystem("could not create \(logFile.path)")
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        do {
            let handle = try FileHandle(forWritingTo: logFile)
            process.standardOutput = handle
            process.standardError = handle
            process.standardInput = FileHandle.nullDevice
            try process.run()
        } catch {
            throw .launchFailed(path, "\(error)")
        }
        self.process = process
    }

    /// The process id.
    package var pid: Int32 { process.processIdentifier }

    /// True while the process has not exited.
    package var isRunning: Bool { process.isRunning }

    /// Sends SIGTERM, waits up to `timeout`, then SIGKILL. Returns when the process is gone.
    package func stop(timeout: Duration = .seconds(10)) async {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        if process.isRunning { await kill() }
    }

    /// Sends SIGKILL (a crash, as far as the process's peers can tell) and waits for it to exit.
    package func kill() async {
        guard process.isRunning else { return }
        _ = Foundation.kill(process.processIdentifier, SIGKILL)
        while process.isRunning {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// The last `lines` lines of the log file, for error messages.
    package func logTail(lines: Int = 20) -> String {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Finds `name` on PATH and in the sbin directories where Debian puts servers.
    package static func locate(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init) + ["/usr/sbin", "/sbin", "/usr/lib/rabbitmq/bin"]
        for directory in directories {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}
