package import Foundation
import Synchronization

/// A child process started by this program (a server for the local stack or a test fixture).
///
/// Started with `posix_spawn`, in a process group of its own, with an empty signal mask and default
/// signal handlers: threads of a Swift process block signals, and a child inherits that mask, so a
/// child started through Foundation's `Process` may ignore SIGTERM. Output goes to a log file, never to
/// our own stdout, and no other descriptor of ours is inherited. ``stop(timeout:)`` sends SIGTERM to the whole group, then SIGKILL; ``kill()`` kills
/// the group at once, to simulate a crash.
package final class ManagedProcess: Sendable {
    /// The process id (also the process group id).
    package let pid: Int32
    /// The executable's path, for messages.
    package let executable: String
    /// Where stdout and stderr were written.
    package let logFile: URL
    private let exitStatus = Mutex<Int32?>(nil)

    /// Starts `executable` with `arguments`; `environment` is added to the inherited one. Stderr goes
    /// to `errorFile` where one is given, else to `logFile` with stdout.
    package init(
        executable: String,
        arguments: [String],
        environment: [String: String] = [:],
        logFile: URL,
        errorFile: URL? = nil,
        workingDirectory: URL? = nil
    ) throws(LocalServerError) {
        guard let path = ManagedProcess.locate(executable) else {
            throw .missingExecutable(executable)
        }
        self.executable = path
        self.logFile = logFile
        let logDescriptor = open(logFile.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard logDescriptor >= 0 else {
            throw .filesystem("could not create \(logFile.path): \(String(cString: strerror(errno)))")
        }
        defer { close(logDescriptor) }
        var errorDescriptor = logDescriptor
        if let errorFile {
            errorDescriptor = open(errorFile.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard errorDescriptor >= 0 else {
                throw .filesystem("could not create \(errorFile.path): \(String(cString: strerror(errno)))")
            }
        }
        defer { if errorDescriptor != logDescriptor { close(errorDescriptor) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, logDescriptor, 1)
        posix_spawn_file_actions_adddup2(&actions, errorDescriptor, 2)
        for descriptor in Self.inheritableDescriptors() {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP)
        )

        let environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        // `env -C DIR` changes directory and execs the program in place (same pid): glibc's
        // posix_spawn_file_actions_addchdir_np is not visible to Swift.
        let command = workingDirectory.map { ["/usr/bin/env", "-C", $0.path, path] } ?? [path]
        let argv = (command + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let result = posix_spawn(&child, command[0], &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw .launchFailed(path, String(cString: strerror(result)))
        }
        self.pid = child
    }

    /// True while the process has not exited (reaps it once it has).
    package var isRunning: Bool {
        exitStatus.withLock { status in
            guard status == nil else { return false }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid || (result < 0 && errno == ECHILD) {
                status = raw
                return false
            }
            return true
        }
    }

    /// Blocks the calling thread until the process exits and returns its exit code (128 + the
    /// signal's number when a signal ended it). For helpers that finish in milliseconds.
    package func waitUntilExit() -> Int32 {
        exitStatus.withLock { status in
            if status == nil {
                var raw: Int32 = 0
                while waitpid(pid, &raw, 0) < 0 && errno == EINTR {}
                status = raw
            }
            let raw = status ?? 0
            let signal = raw & 0x7f
            return signal == 0 ? (raw >> 8) & 0xff : 128 + signal
        }
    }

    /// Waits, without blocking a thread, until the process exits or `timeout` passes: its exit code
    /// (as ``waitUntilExit()``), or nil while it still runs. For helpers that may take seconds.
    package func exitCode(within timeout: Duration) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(5)
        while isRunning {
            guard ContinuousClock.now < deadline, !Task.isCancelled else { return nil }
            try? await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(50))
        }
        return waitUntilExit()
    }

    /// Sends SIGTERM to the process group, waits up to `timeout`, then SIGKILL. Returns when the
    /// process is gone.
    package func stop(timeout: Duration = .seconds(10)) async {
        guard isRunning else { return }
        signalGroup(SIGTERM)
        let deadline = ContinuousClock.now + timeout
        while isRunning && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        await kill()
    }

    /// Sends SIGKILL to the process group (a crash, as far as peers can tell) and waits for the exit.
    package func kill() async {
        signalGroup(SIGKILL)
        while isRunning {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Sends `signal` to the process and everything it started in its group.
    package func signalGroup(_ signal: Int32) {
        _ = Foundation.kill(-pid, signal)
    }

    /// The last `lines` lines of the log file, for error messages.
    package func logTail(lines: Int = 20) -> String {
        guard let text = try? String(contentsOf: logFile, encoding: .utf8) else { return "" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Every descriptor of this process above stderr. The child closes them all: a daemon that kept
    /// one (a pipe, or the socket Foundation's `Process` watches to learn that our own process exited)
    /// would keep whoever holds the other end waiting for an end-of-file that never comes. glibc
    /// ignores a close action for a descriptor closed meanwhile.
    private static func inheritableDescriptors() -> [Int32] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return names.compactMap(Int32.init).filter { $0 > 2 }
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
