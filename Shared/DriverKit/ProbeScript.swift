package import Foundation
package import PazSchemas

/// What a probe runs on a machine over SSH (one command, POSIX sh) and how its output is read: uptime,
/// load, kernel, OS release and the running systemd services (mist.io's probe).
package enum ProbeScript {
    /// The command. Each section starts with a `--name` line; a missing tool leaves its section empty.
    /// Running services come from `systemctl`; where it cannot reach the system manager (a login user
    /// on an image without D-Bus, such as the Debian cloud test image), from the service cgroups that
    /// hold processes (cgroup v2, else v1's systemd hierarchy), which any user may read.
    package static let command = """
        echo --uptime; cat /proc/uptime; echo --load; cat /proc/loadavg; echo --kernel; uname -r; \
        echo --os; cat /etc/os-release 2>/dev/null; echo --units; \
        units=$(systemctl list-units --type=service --state=running --no-legend --plain 2>/dev/null | awk '{print $1}'); \
        if [ -n "$units" ]; then echo "$units"; else \
        for d in /sys/fs/cgroup/system.slice/*.service /sys/fs/cgroup/systemd/system.slice/*.service; do \
        [ -n "$(head -c1 "$d/cgroup.procs" 2>/dev/null)" ] && basename "$d"; done; fi; true
        """

    /// Reads the command's output into a reachable ``ProbeResult``.
    package static func parse(_ output: String, machine: MachineRef, observedAt: Date = Date()) -> ProbeResult {
        var sections: [String: [String]] = [:]
        var current = ""
        for line in output.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) {
            if line.hasPrefix("--") {
                current = String(line.dropFirst(2))
            } else {
                sections[current, default: []].append(line)
            }
        }
        let uptime = sections["uptime"]?.first?.split(separator: " ").first.flatMap { Double($0) }
        let loads = (sections["load"]?.first ?? "").split(separator: " ").prefix(3).compactMap { Double($0) }
        let load = loads.count == 3 ? LoadAverage(one: loads[0], five: loads[1], fifteen: loads[2]) : nil
        let release = osRelease(sections["os"] ?? [])
        let units = (sections["units"] ?? []).filter { $0.hasSuffix(".service") }
        return ProbeResult(
            machine: machine, reachable: true, observedAt: observedAt, uptimeSeconds: uptime, loadAverage: load,
            kernel: sections["kernel"]?.first, osRelease: release, runningUnits: units)
    }

    /// `ID`, `VERSION_ID` and `PRETTY_NAME` of `/etc/os-release` lines (quotes removed).
    static func osRelease(_ lines: [String]) -> OSRelease? {
        var values: [String: String] = [:]
        for line in lines {
            guard let equals = line.firstIndex(of: "=") else { continue }
            let value = line[line.index(after: equals)...].trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            values[String(line[..<equals])] = value
        }
        guard !values.isEmpty else { return nil }
        return OSRelease(id: values["ID"], versionId: values["VERSION_ID"], prettyName: values["PRETTY_NAME"])
    }
}
