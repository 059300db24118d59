import Foundation
import PazLocalServers

/// Runs a program (the system `ssh`/`scp`) in the foreground: same terminal, same process group,
/// standard streams inherited, default signal handling and an empty signal mask (a Swift thread's
/// blocked signals would otherwise be inherited). While it runs this process ignores SIGINT and
/// SIGQUIT, as a shell does, so Ctrl-C reaches the program and we still clean up after it.
enum ForegroundCommand {
    /// Runs `executable` (a name on PATH or a path) with `arguments`; returns its exit status
    /// (128 + N when signal N ended it).
    static func run(_ executable: String, _ arguments: [String], environment: [String: String]) async throws(CLIError) -> Int32 {
        guard let path = ManagedProcess.locate(executable) else {
            throw .usage("\(executable) not found on PATH: install the OpenSSH client (apt-get install openssh-client)")
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
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let previousInterrupt = signal(SIGINT, SIG_IGN)
        let previousQuit = signal(SIGQUIT, SIG_IGN)
        defer {
            signal(SIGINT, previousInterrupt)
            signal(SIGQUIT, previousQuit)
        }
        var child: pid_t = 0
        let result = posix_spawn(&child, path, nil, &attributes, argv, envp)
        guard result == 0 else { throw .usage("cannot run \(path): \(String(cString: strerror(result)))") }
        // Polls instead of blocking a thread of the cooperative pool in waitpid.
        var status: Int32 = 0
        while true {
            let reaped = waitpid(child, &status, WNOHANG)
            if reaped == child { break }
            if reaped < 0 && errno != EINTR { return 255 }
            try? await Task.sleep(for: .milliseconds(2))
        }
        let signalNumber = status & 0x7f
        return signalNumber == 0 ? (status >> 8) & 0xff : 128 + signalNumber
    }
}
