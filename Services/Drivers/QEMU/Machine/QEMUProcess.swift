import Foundation

/// A VM's QEMU process on this host, found through its pid file (written by QEMU itself) and
/// checked against `/proc/<pid>/cmdline`, so a stale pid file or a reused pid never counts.
///
/// QEMU runs daemonized (`-daemonize`: its own session, not our child), so VMs outlive a crash or
/// restart of the driver service, which re-attaches through the same files.
package struct QEMUProcess: Sendable {
    package let files: MachineFiles

    package init(files: MachineFiles) {
        self.files = files
    }

    /// The pid of this VM's QEMU while it runs, else nil.
    package var runningPID: Int32? {
        Self.livePID(in: files.pidFile) { $0.contains(files.qmpSocket.path) }
    }

    /// The pid `pidFile` names while that process runs and one of its arguments satisfies
    /// `isOurs` (so a stale file, a reused pid or a zombie never counts), else nil.
    static func livePID(in pidFile: URL, where isOurs: (String) -> Bool) -> Int32? {
        guard let text = try? String(contentsOf: pidFile, encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
              let commandLine = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
        else { return nil }
        let arguments = commandLine.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        return arguments.contains(where: isOurs) ? pid : nil
    }

    /// Starts QEMU with `arguments` (which must daemonize it and write ``MachineFiles/pidFile``);
    /// returns once QEMU has daemonized, i.e. its devices opened and its sockets listen. With a
    /// `niceness` above 0 it runs at that lower CPU priority.
    package func launch(binary: String, arguments: [String], niceness: Int = 0) async throws(QEMUError) {
        let result: ExternalToolResult
        do {
            // `nice` execs QEMU (its command line stays QEMU's); the daemon inherits the niceness.
            result = niceness > 0
                ? try await ExternalTool.run("nice", ["-n", "\(niceness)", binary] + arguments, timeout: .seconds(60))
                : try await ExternalTool.run(binary, arguments, timeout: .seconds(60))
        } catch {
            throw .tool(error)
        }
        guard result.succeeded else {
            let log = (result.standardError + result.standardOutput).trimmingCharacters(in: .whitespacesAndNewlines)
            try? log.write(to: files.launchLog, atomically: true, encoding: .utf8)
            throw .launchFailed("QEMU (\(binary))", log: String(log.suffix(1500)))
        }
    }

    /// Waits up to `timeout` for the process to end; true when it has.
    package func waitForExit(timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while runningPID != nil {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return true
    }

    /// Ends QEMU at once: QMP `quit`, then SIGKILL when it has not exited within 10 s.
    package func quit(qmpTimeout: Duration) async {
        guard runningPID != nil else { return }
        _ = try? await QMPClient(socketPath: files.qmpSocket.path, timeout: qmpTimeout).execute("quit")
        if await !waitForExit(timeout: .seconds(10)) { await forceKill() }
    }

    /// Kills the process (SIGKILL) and waits until it is gone.
    package func forceKill() async {
        guard let pid = runningPID else { return }
        _ = Foundation.kill(pid, SIGKILL)
        _ = await waitForExit(timeout: .seconds(10))
    }
}
