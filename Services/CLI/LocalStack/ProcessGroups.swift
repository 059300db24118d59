import Foundation

/// Processes of the local stack by pid, for `down` (a later `paz-machine` that did not start them):
/// every server and service runs in a process group of its own whose id is the leader's pid, so
/// signalling the group reaches what the leader started (RabbitMQ's Erlang VM under its wrapper).
package enum ProcessGroups {
    /// A process as `/proc/<pid>/stat` describes it.
    package struct Entry: Equatable, Sendable {
        package var pid: Int32
        package var state: Character
        package var processGroup: Int32
        /// Clock ticks after boot when it started: with the pid, it identifies the process.
        package var startTime: UInt64
    }

    /// `/proc/<pid>/stat`, or nil when there is no such process.
    package static func entry(_ pid: Int32) -> Entry? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = text.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime priority nice threads itrealvalue starttime …
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let state = fields[0].first, let group = Int32(fields[2]),
              let start = UInt64(fields[19])
        else { return nil }
        return Entry(pid: pid, state: state, processGroup: group, startTime: start)
    }

    /// Every live (not zombie) process in group `group`.
    package static func members(of group: Int32) -> [Entry] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap { Int32($0) }.compactMap(entry).filter { $0.processGroup == group && $0.state != "Z" }
    }

    /// True while any process of group `group` lives. When `startTime` is given and the leader is
    /// present, it must be the same process that was recorded (not a recycled pid).
    package static func isAlive(_ group: Int32, startTime: UInt64? = nil) -> Bool {
        reap(group)
        if let startTime, let leader = entry(group), leader.startTime != startTime { return false }
        return !members(of: group).isEmpty
    }

    /// Stops group `group`: SIGTERM, up to `timeout` for it to exit, then SIGKILL. Returns true when
    /// it had to kill.
    @discardableResult
    package static func stop(_ group: Int32, startTime: UInt64? = nil, timeout: Duration) async -> Bool {
        guard group > 1, isAlive(group, startTime: startTime) else { return false }
        _ = kill(-group, SIGTERM)
        if await waitUntilGone(group, timeout: timeout) { return false }
        _ = kill(-group, SIGKILL)
        _ = await waitUntilGone(group, timeout: .seconds(10))
        return true
    }

    /// Kills group `group` (and its leader, should it have left the group) with SIGKILL, as a crash:
    /// no clean shutdown. Returns true once none of its processes lives, false after `timeout`.
    @discardableResult
    package static func killAndWait(_ group: Int32, timeout: Duration = .seconds(10)) async -> Bool {
        guard group > 1 else { return false }
        _ = kill(-group, SIGKILL)
        _ = kill(group, SIGKILL)
        return await waitUntilGone(group, timeout: timeout)
    }

    private static func waitUntilGone(_ group: Int32, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if !isAlive(group) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return !isAlive(group)
    }

    /// Collects the exit status of the leader when it is our own child (when this process started it),
    /// so it does not linger as a zombie.
    private static func reap(_ pid: Int32) {
        var status: Int32 = 0
        _ = waitpid(pid, &status, WNOHANG)
    }
}
