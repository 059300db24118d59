import Foundation
import PazLocalServers

/// Runs `wrk` (Debian's package) against a loopback URL and reads its figures.
struct Wrk {
    /// What one run measured.
    struct Result {
        var requestsPerSecond: Double
        var requests: Int
        /// Latency percentile (50, 75, 90, 99) → milliseconds.
        var latency: [Int: Double]
        var errors: Int
        var non2xx: Int
    }

    var connections: Int
    var threads: Int
    var duration: Duration
    var headers: [String] = []
    /// A Lua script (e.g. to POST).
    var script: String?

    /// Runs against `url` (127.0.0.1 only).
    func run(_ url: String) throws -> Result {
        guard url.hasPrefix("http://127.") else { throw BenchError("wrk targets loopback only, not \(url)") }
        guard let wrk = ManagedProcess.locate("wrk") else {
            throw BenchError("wrk not found: apt-get install wrk (deploy/install-deps.sh installs it)")
        }
        let directory = try ScratchDirectory.make(prefix: "paz-bench-wrk")
        defer { try? FileManager.default.removeItem(at: directory) }
        var arguments = ["-t", String(threads), "-c", String(connections), "-d", "\(duration.components.seconds)s", "--latency"]
        for header in headers { arguments += ["-H", header] }
        if let script {
            let file = directory.appendingPathComponent("script.lua")
            try script.write(to: file, atomically: true, encoding: .utf8)
            arguments += ["-s", file.path]
        }
        let output = directory.appendingPathComponent("output")
        let process = try ManagedProcess(executable: wrk, arguments: arguments + [url], logFile: output)
        let status = process.waitUntilExit()
        let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
        guard status == 0 else { throw BenchError("wrk exited with \(status):\n\(text)") }
        return try Self.parse(text)
    }

    /// Reads `Requests/sec`, the request count, the `--latency` distribution and error lines.
    static func parse(_ text: String) throws -> Result {
        var result = Result(requestsPerSecond: 0, requests: 0, latency: [:], errors: 0, non2xx: 0)
        for raw in text.split(separator: "\n") {
            let words = raw.split(whereSeparator: \.isWhitespace).map(String.init)
            guard let first = words.first else { continue }
            if first == "Requests/sec:", words.count > 1 {
                result.requestsPerSecond = Double(words[1]) ?? 0
            } else if first.hasSuffix("%"), words.count == 2, let percentile = Int(first.dropLast()),
                      let value = milliseconds(words[1]) {
                result.latency[percentile] = value
            } else if words.count > 3, words[1] == "requests" && words[2] == "in" {
                result.requests = Int(first) ?? 0
            } else if first == "Socket", let range = raw.range(of: "errors: ") {
                result.errors = raw[range.upperBound...].split(separator: ",")
                    .compactMap { $0.split(separator: " ").last.flatMap { Int($0) } }.reduce(0, +)
            } else if raw.contains("Non-2xx or 3xx responses:") {
                result.non2xx = Int(words.last ?? "") ?? 0
            }
        }
        guard result.requests > 0, result.latency[99] != nil else { throw BenchError("could not read wrk's output:\n\(text)") }
        return result
    }

    /// `812.00us`, `1.23ms`, `2.00s` → milliseconds.
    private static func milliseconds(_ text: String) -> Double? {
        for (unit, factor) in [("us", 0.001), ("ms", 1.0), ("s", 1000.0)] where text.hasSuffix(unit) {
            return Double(text.dropLast(unit.count)).map { $0 * factor }
        }
        return nil
    }
}
