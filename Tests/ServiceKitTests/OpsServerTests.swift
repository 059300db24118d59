import Foundation
import Logging
import Metrics
import PazServiceKit
import Prometheus
import ServiceLifecycle
import Testing

@Suite("Ops server")
struct OpsServerTests {
    /// A runtime on 127.0.0.1:0 with its own registry (never the global bootstrap: tests share a process).
    private func makeRuntime(_ name: String, captured: CapturedLines = CapturedLines()) -> ServiceRuntime {
        ServiceRuntime(
            configuration: ServiceKitConfiguration(serviceName: name, opsPort: 0),
            logger: testLogger(name, captured: captured, level: .info),
            metrics: PrometheusCollectorRegistry()
        )
    }

    /// Runs `runtime`'s service group around `body`, then shuts it down gracefully.
    private func withRunningGroup(
        _ runtime: ServiceRuntime, services: [any Service] = [], _ body: (Int) async throws -> Void
    ) async throws {
        let group = buildServiceGroup(runtime, services: services)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let port = try await runtime.opsServer.listeningPort()
                try await body(port)
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    @Test("/healthz answers 200 over a real loopback socket on a kernel-chosen port")
    func healthz() async throws {
        let captured = CapturedLines()
        let runtime = makeRuntime("healthz-test", captured: captured)
        try await withRunningGroup(runtime) { port in
            #expect(port > 0)
            let (status, body) = try await httpGet(port: port, path: "/healthz")
            #expect(status == 200)
            #expect(body.contains("alive"))
            let (missing, _) = try await httpGet(port: port, path: "/nope")
            #expect(missing == 404)
            // The Date and Server headers Hummingbird's Application wrote, written by HTTPApplication.
            let answer = try await httpResponse(port: port, path: "/healthz")
            #expect(answer.headers["server"] == "healthz-test")
            let formatter = DateFormatter()
            formatter.locale = Locale(identifier: "en_US_POSIX")
            formatter.timeZone = TimeZone(identifier: "GMT")
            formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
            let date = try #require(answer.headers["date"].flatMap(formatter.date(from:)), "no IMF-fixdate: \(answer.headers)")
            #expect(abs(date.timeIntervalSinceNow) < 5)
        }
        #expect(captured.text.contains("127.0.0.1"), "Hummingbird logs its listening address through the kit logger")
    }

    @Test("/readyz is 503 naming the failing check until it passes, then 200")
    func readyz() async throws {
        let runtime = makeRuntime("readyz-test")
        let redisUp = Shared(false)
        runtime.readiness.register("amqp") { true }
        runtime.readiness.register("redis") { redisUp.value }
        try await withRunningGroup(runtime) { port in
            let (notReady, body) = try await httpGet(port: port, path: "/readyz")
            #expect(notReady == 503)
            let report = try JSONDecoder().decode(ReadinessReport.self, from: Data(body.utf8))
            #expect(report.failing == ["redis"])
            #expect(report.checks == ["amqp": true, "redis": false, ReadinessChecks.shutdownCheckName: true])
            #expect(report.status == "not ready")

            redisUp.value = true
            let (ready, readyBody) = try await httpGet(port: port, path: "/readyz")
            #expect(ready == 200)
            #expect(try JSONDecoder().decode(ReadinessReport.self, from: Data(readyBody.utf8)).failing.isEmpty)
        }
    }

    @Test("/metrics exposes, in Prometheus text format, counters incremented through swift-metrics and the registry")
    func metrics() async throws {
        let runtime = makeRuntime("metrics-test")
        let factory = PrometheusMetricsFactory(registry: runtime.metrics)
        let handled = Counter(label: "paz_test_messages_handled_total", dimensions: [("queue", "driver.qemu")], factory: factory)
        handled.increment(by: 41)
        handled.increment()
        Gauge(label: "paz_test_in_flight", factory: factory).record(3)
        try await withRunningGroup(runtime) { port in
            let (status, body) = try await httpGet(port: port, path: "/metrics")
            #expect(status == 200)
            #expect(body.contains("# TYPE paz_test_messages_handled_total counter"))
            #expect(body.contains(#"paz_test_messages_handled_total{queue="driver.qemu"} 42"#))
            #expect(body.contains("paz_test_in_flight 3"))
        }
    }

    @Test("a port already in use makes the group fail with an error naming host and port")
    func portInUse() async throws {
        let first = makeRuntime("port-owner")
        try await withRunningGroup(first) { port in
            let second = ServiceRuntime(
                configuration: ServiceKitConfiguration(serviceName: "port-clash", opsPort: port),
                logger: testLogger("port-clash")
            )
            await #expect(throws: (any Error).self) { try await buildServiceGroup(second, services: []).run() }
            let error = await #expect(throws: ServiceKitError.self) { try await second.opsServer.listeningPort() }
            guard case .opsServerNotListening(let host, let reportedPort, _) = error else {
                Issue.record("expected opsServerNotListening, got \(String(describing: error))")
                return
            }
            #expect(host == "127.0.0.1" && reportedPort == port)
        }
    }
}
