import ArgumentParser
import Foundation
import Logging
import PazHTTP
import PazMachineCLI

/// `fail-fast`: how fast the gateway answers 503 once Redis is gone (killed, or frozen with SIGSTOP).
struct FailFastBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fail-fast",
        abstract: "Gateway answers while the stack's Redis is down: 503 latency p50/p99 (target ≤ 200 ms).",
        discussion: """
            Starts the local stack, checks that GET /v1/clusters answers 200, then kills redis-server \
            (`--signal stop` freezes it instead: connections stay open and nothing answers) and sends \
            `--requests` requests one after another. Every answer must be 503 dependency-unavailable \
            with Retry-After. Reports the time to the first fast answer and the latency of each request.
            """)

    enum Signal: String, ExpressibleByArgument {
        case kill
        case stop
    }

    @Option(help: "How Redis goes away: kill (SIGKILL: connections refused) or stop (SIGSTOP: no answers).")
    var signal = Signal.kill

    @Option(help: "Requests to time after Redis went away.")
    var requests = 200

    func run() async throws {
        var logger = Logger(label: "paz-bench.fail-fast")
        logger.logLevel = .warning
        let http = HTTPClient(configuration: .init(retry: .none, threadName: "paz-bench-fail-fast"), logger: logger)
        let (p50, p99) = try await withStack { stack in
            guard let redis = stack.state.processes.first(where: { $0.name == "redis-server" }) else {
                throw BenchError("the stack has no redis-server process")
            }
            var headers = HTTPHeaders()
            headers.set("Authorization", "Bearer \(stack.token)")
            // Not idempotent for the client: it hands every answer back (a 503 included) instead of retrying.
            let request = HTTPRequest(method: .get, url: stack.gatewayURL + "/v1/clusters", headers: headers, idempotent: false)
            for _ in 0..<20 {
                let answer = try await http.send(request)
                guard answer.status == 200 else { throw BenchError("before the failure: \(answer.status) instead of 200") }
            }

            print("sending SIG\(signal.rawValue.uppercased()) to redis-server (pid \(redis.pid))")
            let signalled = ContinuousClock.now
            guard Foundation.kill(redis.pid, signal == .kill ? SIGKILL : SIGSTOP) == 0 else {
                throw BenchError("could not signal redis-server (pid \(redis.pid)): errno \(errno)")
            }
            defer { if signal == .stop { _ = Foundation.kill(redis.pid, SIGCONT) } }

            // Until the breakers open, a frozen Redis holds requests up to the command timeout.
            var untilFast: Duration?
            var warmUp = 0
            while untilFast == nil, ContinuousClock.now - signalled < .seconds(120) {
                let started = ContinuousClock.now
                let answer = try await http.send(request)
                warmUp += 1
                if answer.status == 503, ContinuousClock.now - started < .milliseconds(200) {
                    untilFast = ContinuousClock.now - signalled
                }
            }
            guard let untilFast else { throw BenchError("no answer under 200 ms within 120 s of the signal") }
            print("first 503 under 200 ms after \(format(Self.milliseconds(untilFast), 1)) ms (\(warmUp) requests)")

            var latencies: [Double] = []
            var retryAfter: Set<String> = []
            for _ in 0..<requests {
                let started = ContinuousClock.now
                let answer = try await http.send(request)
                latencies.append(Self.milliseconds(ContinuousClock.now - started))
                let type = (try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["type"] as? String
                guard answer.status == 503, type == "urn:paz:problem:dependency-unavailable",
                      let after = answer.headers["Retry-After"]
                else {
                    throw BenchError("expected 503 dependency-unavailable with Retry-After, got \(answer.status) \(type ?? "-")")
                }
                retryAfter.insert(after)
            }
            latencies.sort()
            let p50 = latencies[latencies.count / 2]
            let p99 = latencies[min(latencies.count - 1, Int((Double(latencies.count) * 0.99).rounded(.up)) - 1)]
            print("\(requests) requests, all 503 dependency-unavailable (Retry-After: \(retryAfter.sorted().joined(separator: ", "))): "
                + "p50 \(format(p50)) ms, p99 \(format(p99)) ms, max \(format(latencies.last ?? 0)) ms")
            return (p50, p99)
        }
        await http.shutdown()
        print("fail-fast: p50 \(format(p50)) ms, p99 \(format(p99)) ms")
    }

    private static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1_000 + Double(duration.components.attoseconds) / 1e15
    }
}
