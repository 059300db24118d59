import Logging
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
                try await Task.sleep(for: .milliseconds(300))
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

    @Test("graceful shutdown lets in-flight work finish and ack, then closes dependencies, then run() returns")
    func inFlightWorkFinishes() async throws {
        let events = EventLog([])
        let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
        let kit = runtime("shutdown-test")
        let group = buildServiceGroup(kit, services: [
            ConnectionService(events: events), ConsumerService(events: events, jobStarted: startedContinuation),
        ])
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                try await group.run()
                events.record("group-returned")
            }
            var iterator = started.makeAsyncIterator()
            _ = await iterator.next()  // job 1 is in flight
            let port = try await kit.opsServer.listeningPort()
            #expect(try await httpGet(port: port, path: "/healthz").status == 200)
            await group.triggerGracefulShutdown()
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
