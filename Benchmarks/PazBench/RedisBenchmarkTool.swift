import Foundation

/// `redis-benchmark` (redis-tools) run against a server for one command: the floor a Redis client
/// on this machine is compared with, measured in the same run.
struct RedisBenchmarkTool {
    let host = "127.0.0.1"
    let port: Int
    /// A Redis user without a password (`nopass`): redis-benchmark takes passwords only on its
    /// command line, where every process can read them.
    var user: String?
    var requests = 20_000

    /// What redis-benchmark reported.
    struct Result {
        let requestsPerSecond: Double
        let p50Milliseconds: Double
    }

    /// Runs `command` with `clients` connections (`-q`, so the output is one line per command).
    func run(_ command: [String], clients: Int) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        var arguments = ["redis-benchmark", "-h", host, "-p", "\(port)", "-n", "\(requests)", "-c", "\(clients)", "-q"]
        if let user { arguments += ["--user", user, "-a", "unused"] }  // nopass: any password is taken
        arguments += command
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        // "HGETALL key: 25510.20 requests per second, p50=0.039 msec" (after \r progress lines).
        guard process.terminationStatus == 0,
            let line = text.split(whereSeparator: { $0 == "\n" || $0 == "\r" }).last(where: { $0.contains("requests per second") }),
            let rate = line.split(separator: ":").last?.split(separator: " ").first.flatMap({ Double($0) }),
            let p50 = line.split(separator: "p50=").last?.split(separator: " ").first.flatMap({ Double($0) })
        else { throw BenchError("redis-benchmark failed or printed something unexpected: \(text.suffix(300))") }
        return Result(requestsPerSecond: rate, p50Milliseconds: p50)
    }
}
