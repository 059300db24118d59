import Foundation
import Logging
import Metrics
import PazLocalServers
import PazServiceKit
import ServiceLifecycle
import Testing

/// Stands in for a connection (AMQP, Redis): open until graceful shutdown reaches it.
private struct ConnectionService: Service {
    let events: EventLog

    func run() async throws {
        events.record("connection-open")
        try? await gracefulShutdown()
        events.record("connection-closed")
    }
}

/// Stands in for a consumer following the shutdown contract: on graceful shutdown it stops taking work,
/// finishes the job in flight, acks it, then returns.
private struct ConsumerService: Service {
    let events: EventLog
    let jobStarted: AsyncStream<Void>.Continuation
    var failAfterAck = false
    var jobDuration: Duration = .milliseconds(300)
    /// When set, job 1 stays in flight until this stream yields.
    var holdFirstJob: AsyncStream<Void>?
    /// When true, job 1 stays in flight until graceful shutdown is signalled (then runs `jobDuration` more).
    var firstJobOutlivesSignal = false

    struct Failure: Error {}

    func run() async throws {
        let takingWork = Shared(true)
        try await withGracefulShutdownHandler {
            var job = 0
            while takingWork.value {
                job += 1
                events.record("job-\(job)-started")
                jobStarted.yield()
                // In-flight work that is not cancellable mid-way: it runs to the end once started.
                try await Task.sleep(for: jobDuration)
                if job == 1, let holdFirstJob {
                    for await _ in holdFirstJob { break }
                }
                if job == 1 && firstJobOutlivesSignal {
                    while takingWork.value { try await Task.sleep(for: .milliseconds(10)) }
                    try await Task.sleep(for: jobDuration)
                }
                events.record("job-\(job)-finished")
                events.record("job-\(job)-acked")
                if failAfterAck { throw Failure() }
            }
            events.record("consumer-returned")
        } onGracefulShutdown: {
            events.record("shutdown-signalled")
            takingWork.value = false
        }
    }
}

@Suite("Graceful shutdown")
struct ShutdownTests {
    private func runtime(_ name: String) -> ServiceRuntime {
        ServiceRuntime(configuration: ServiceKitConfiguration(serviceName: name, opsPort: 0), logger: testLogger(name))
    }

    @Test("graceful shutdown: /readyz turns 503 at once, in-flight work finishes and is acked, then dependencies close, then run() returns")
    func inFlightWorkFinishes() async throws {
        let events = EventLog([])
        let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
        let (hold, release) = AsyncStream.makeStream(of: Void.self)
        let kit = runtime("shutdown-test")
        let group = buildServiceGroup(kit, services: [
            ConnectionService(events: events),
            ConsumerService(events: events, jobStarted: startedContinuation, holdFirstJob: hold),
        ])
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                try await group.run()
                events.record("group-returned")
            }
            var iterator = started.makeAsyncIterator()
            _ = await iterator.next()  // job 1 is in flight
            let port = try await kit.opsServer.listeningPort()
            #expect(try await httpGet(port: port, path: "/readyz").status == 200)
            await group.triggerGracefulShutdown()

            // Job 1 is held in flight: the ops server still answers, but no longer as ready.
            var readiness = try await httpGet(port: port, path: "/readyz")
            let deadline = ContinuousClock.now + .seconds(10)
            while readiness.status == 200 && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(10))
                readiness = try await httpGet(port: port, path: "/readyz")
            }
            #expect(readiness.status == 503)
            #expect(readiness.body.contains(ReadinessChecks.shutdownCheckName))
            #expect(try await httpGet(port: port, path: "/healthz").status == 200)
            #expect(!events.value.contains("job-1-acked"))
            release.yield()
            try await tasks.waitForAll()
        }

        let log = events.value
        #expect(log.contains("connection-open"))
        #expect(log.contains("job-1-acked"))
        #expect(!log.contains("job-2-started"), "no new work after shutdown was signalled: \(log)")
        let order = ["job-1-started", "shutdown-signalled", "job-1-finished", "job-1-acked",
                     "consumer-returned", "connection-closed", "group-returned"]
        let positions = order.map { events.index(of: $0) }
        #expect(positions.allSatisfy { $0 != nil }, "missing events in \(log)")
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted(), "wrong order: \(log)")
    }

    @Test("a failing service shuts the group down gracefully and run() rethrows its error")
    func failureShutsDownGracefully() async throws {
        let events = EventLog([])
        let (_, continuation) = AsyncStream.makeStream(of: Void.self)
        let group = buildServiceGroup(runtime("failure-test"), services: [
            ConnectionService(events: events),
            ConsumerService(events: events, jobStarted: continuation, failAfterAck: true),
        ])
        await #expect(throws: ConsumerService.Failure.self) { try await group.run() }
        let log = events.value
        #expect(log.contains("connection-closed"), "the connection is closed gracefully, not cancelled: \(log)")
        #expect((events.index(of: "job-1-acked") ?? .max) < (events.index(of: "connection-closed") ?? -1))
    }
}

/// Set in the child process that ``SignalTests`` starts: the directory it reports to.
private let signalChildDirectory = ProcessInfo.processInfo.environment["PAZ_SERVICEKIT_SIGNAL_CHILD"]

@Suite("Signals (child process)")
struct SignalTests {
    @Test("SIGTERM and SIGINT to a service process: in-flight work finishes and is acked, then the process exits",
          arguments: [SIGTERM, SIGINT])
    func signalStopsGracefully(signal: Int32) async throws {
        let directory = try ScratchDirectory.make(prefix: "servicekit-signal")
        defer { try? FileManager.default.removeItem(at: directory) }
        // The child is this test binary, running only `SignalChild` below.
        let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let child = try ManagedProcess(
            executable: binary,
            arguments: ["--testing-library", "swift-testing", "--filter", "ServiceKitTests.SignalChild"],
            environment: ["PAZ_SERVICEKIT_SIGNAL_CHILD": directory.path],
            logFile: directory.appendingPathComponent("child.log")
        )
        do {
            let started = directory.appendingPathComponent("started")
            let deadline = ContinuousClock.now + .seconds(30)
            while !FileManager.default.fileExists(atPath: started.path) && child.isRunning && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
            let portText = try #require(try? String(contentsOf: started, encoding: .utf8), "child did not start: \(child.logTail())")
            let port = try #require(Int(portText))

            // The child bootstrapped logging and metrics globally: its swift-metrics counter is on /metrics.
            let metrics = try await httpGet(port: port, path: "/metrics")
            #expect(metrics.body.contains("paz_child_jobs_started_total 1"), "\(metrics.body)")
            #expect(try await httpGet(port: port, path: "/readyz").status == 200)

            _ = kill(child.pid, signal)
            while child.isRunning && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(20))
            }
        } catch {
            await child.kill()  // never leave the child running when the test stops early
            throw error
        }
        await child.kill()  // only if it ignored the signal; the assertions below then fail

        let written = try? String(contentsOf: directory.appendingPathComponent("events"), encoding: .utf8)
        let events = try #require(written, "the child wrote no events: the signal ended it abruptly?\n\(child.logTail())")
            .split(separator: "\n").map(String.init)
        let order = ["job-1-started", "shutdown-signalled", "job-1-finished", "job-1-acked",
                     "consumer-returned", "connection-closed", "group-returned"]
        #expect(events.filter(order.contains) == order, "child events: \(events)\n\(child.logTail())")
        #expect(!events.contains("job-2-started"))
        #expect(events.contains("second-bootstrap-refused"))

        // Its log lines (stdout, mixed with the test runner's output) are JSON objects from the kit's handler.
        let logLines = try String(contentsOf: child.logFile, encoding: .utf8).split(separator: "\n")
            .filter { $0.hasPrefix("{\"timestamp\"") }
            .compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(logLines.contains { ($0["message"] as? String)?.contains("Server started") == true })
        #expect(logLines.allSatisfy { $0["level"] is String && $0["source"] is String && $0["metadata"] is [String: Any] })
    }
}

/// Runs only inside the child process of ``SignalTests``: a service group with a consumer, until a signal.
@Suite("Signal child", .enabled(if: signalChildDirectory != nil, "runs only as the child process of SignalTests"))
struct SignalChild {
    @Test func runUntilSignalled() async throws {
        let directory = URL(fileURLWithPath: try #require(signalChildDirectory))
        let events = EventLog([])
        let (started, continuation) = AsyncStream.makeStream(of: Void.self)
        // Its own process: the one place a test may bootstrap logging and metrics globally.
        let configuration = ServiceKitConfiguration(serviceName: "signal-child", logLevel: .info, logFormat: .json, opsPort: 0)
        let runtime = try ServiceKit.bootstrap(configuration)
        do {
            _ = try ServiceKit.bootstrap(configuration)
        } catch .alreadyBootstrapped {
            events.record("second-bootstrap-refused")
        }
        let jobsStarted = Counter(label: "paz_child_jobs_started_total")
        let group = buildServiceGroup(runtime, services: [
            ConnectionService(events: events),
            ConsumerService(events: events, jobStarted: continuation, jobDuration: .milliseconds(300),
                            firstJobOutlivesSignal: true),
        ])
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                try await group.run()
                events.record("group-returned")
            }
            var iterator = started.makeAsyncIterator()
            _ = await iterator.next()
            jobsStarted.increment()
            let port = try await runtime.opsServer.listeningPort()
            try Data(String(port).utf8).write(to: directory.appendingPathComponent("started"), options: .atomic)
            try await tasks.waitForAll()
        }
        try Data(events.value.joined(separator: "\n").utf8).write(to: directory.appendingPathComponent("events"))
    }
}
