import ArgumentParser
import Foundation
import Logging
import PazAMQP
import PazHTTP
import PazLocalServers
import PazMachineCLI
import PazRedis
import PazSchemas
import PazStore

/// `failover`: the cluster topology (`paz-machine up --topology ha`) under faults.
struct FailoverBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "failover",
        abstract: "The cluster topology: creates accepted per second through HAProxy, commands lost when a RabbitMQ node is killed mid-run (target 0), seconds until status answers after the Redis primary is killed.",
        discussion: """
            The generic drivers are stopped but stay announced, so every accepted create's command stays \
            in the driver's quorum queue (3 members): after a RabbitMQ node is killed while wrk sends \
            creates, every accepted one must still be there. Then the Redis primary is killed and \
            GET /v1/status is polled (through HAProxy, no retries) until it answers 200 again.
            """)

    @Option(help: "Seconds of each wrk run (all creates stay: keep 2 × seconds × rate under 10,000).")
    var seconds = 3

    @Option(help: "Concurrent connections.")
    var connections = 16

    func run() async throws {
        let recovery = try await withStack(environment: unlimitedRate, topology: .ha) { stack in
            let driver = try await stack.silenceGenericDriver()
            try await stack.raiseQuota(to: 10_000)
            let url = stack.gatewayURL + "/v1/clusters"
            // Each wrk thread writes the operation id of every 202 here.
            let acceptedDirectory = try ScratchDirectory.make(prefix: "paz-bench-accepted")
            defer { try? FileManager.default.removeItem(at: acceptedDirectory) }

            let steady = try Wrk(
                connections: connections, threads: 2, duration: .seconds(seconds),
                script: clusterCreateScript(
                    token: stack.token, driver: driver, machinesPerCluster: 1, prefix: "a", acceptedIn: acceptedDirectory)
            ).run(url)
            let steadyAccepted = steady.requests - steady.non2xx
            print("accepted through HAProxy: \(steadyAccepted) creates in \(seconds) s = \(Int(steady.requestsPerSecond)) operations/s "
                + "(p50 \(format(steady.latency[50] ?? 0)) ms, p99 \(format(steady.latency[99] ?? 0)) ms, \(steady.non2xx) not 202)")

            // A RabbitMQ node dies halfway through the second run.
            let connections = connections
            let seconds = seconds
            let token = stack.token
            let faulty = Task.detached {
                try Wrk(
                    connections: connections, threads: 2, duration: .seconds(seconds),
                    script: clusterCreateScript(
                        token: token, driver: driver, machinesPerCluster: 1, prefix: "b", acceptedIn: acceptedDirectory)
                ).run(url)
            }
            try await Task.sleep(for: .milliseconds(seconds * 500))
            try await stack.kill("rabbitmq-server.1")
            print("killed rabbitmq-server.1 (SIGKILL) mid-run")
            let underFault = try await faulty.value
            let faultAccepted = underFault.requests - underFault.non2xx
            print("accepted while the node died: \(faultAccepted) creates (\(underFault.non2xx) refused, \(underFault.errors) socket errors)")

            let accepted = try Self.acceptedOperations(in: acceptedDirectory)
            // Commands whose confirm was lost wait in the gateway's outbox until its relay publishes them.
            let outboxed = try await Self.drainOutbox(stack)
            print("operations whose commands went through the outbox: \(outboxed)")
            let queued = try await Self.queuedOperations(stack, queue: Routing.driverCommandQueue(driver: driver))
            let lost = accepted.subtracting(queued.operations)
            print("operations answered 202: \(accepted.count); with a command in the driver's queue: \(accepted.count - lost.count) "
                + "(the queue holds \(queued.messages) commands of \(queued.operations.count) operations: a command whose confirm was "
                + "lost is published again and run once; wrk does not count the requests in flight when it stops)")
            print("lost: \(lost.count)" + (lost.isEmpty ? "" : " (\(lost.sorted().prefix(5).joined(separator: ", "))…)"))

            // The Redis primary dies: how long until status answers again.
            let primary = try stack.redisPort()
            guard let index = stack.state.ha?.redis.firstIndex(of: primary) else { throw BenchError("the primary \(primary) is not the stack's") }
            var logger = Logger(label: "paz-bench.failover")
            logger.logLevel = .critical
            let http = HTTPClient(
                configuration: .init(connectTimeout: .milliseconds(500), totalTimeout: .seconds(1), retry: .none), logger: logger)
            defer { Task { await http.shutdown() } }
            let status = HTTPRequest(url: stack.gatewayURL + "/v1/status", headers: ["Authorization": "Bearer \(stack.token)"])
            try await stack.kill("redis-server.\(index + 1)")
            let killed = ContinuousClock.now
            while ContinuousClock.now - killed < .seconds(60) {
                if let response = try? await http.send(status), response.status == 200 {
                    let elapsed = ContinuousClock.now - killed
                    print("status answered 200 again \(format(Self.seconds(elapsed))) s after the Redis primary was killed "
                        + "(Sentinel: down after 2 s)")
                    return Self.seconds(elapsed)
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            throw BenchError("status did not answer within 60 s of the Redis primary's death")
        }
        print("failover: \(format(recovery, 2)) s")
    }

    /// Waits (60 s at most) until the gateways' outbox relays have published every entry; returns how
    /// many entries there were at first.
    private static func drainOutbox(_ stack: BenchStack) async throws -> Int {
        try await stack.withStore { store in
            let count = { () async throws -> Int64 in
                let reply = try await store.redis.command(["ZCARD", .init(StoreKeys.outboxSchedule)])
                guard case .integer(let count) = reply else {
                    throw BenchError("ZCARD \(StoreKeys.outboxSchedule) did not answer an integer")
                }
                return count
            }
            let first = try await count()
            let deadline = ContinuousClock.now + .seconds(60)
            while try await count() > 0 {
                guard ContinuousClock.now < deadline else { throw BenchError("the gateways' outbox was not empty after 60 s") }
                try await Task.sleep(for: .milliseconds(200))
            }
            return Int(first)
        }
    }

    /// The operation ids the wrk threads recorded in `directory`.
    private static func acceptedOperations(in directory: URL) throws -> Set<String> {
        var operations: Set<String> = []
        for file in try FileManager.default.contentsOfDirectory(atPath: directory.path) where file.hasSuffix(".accepted") {
            let text = try String(contentsOf: directory.appendingPathComponent(file), encoding: .utf8)
            operations.formUnion(text.split(separator: "\n").map(String.init))
        }
        return operations
    }

    /// The messages in `queue` and the operations their commands belong to (the queue is emptied:
    /// the drivers are stopped for good).
    private static func queuedOperations(_ stack: BenchStack, queue: String) async throws -> (messages: Int, operations: Set<String>) {
        try await stack.withAMQP(as: nil) { amqp in
            let total = try await amqp.queueStatus(queue)?.messageCount ?? 0
            let consumer = try await amqp.consume(queue: queue, prefetch: 500)
            let deadline = Task { try await Task.sleep(for: .seconds(60)); await consumer.cancel() }
            defer { deadline.cancel() }
            var operations: Set<String> = []
            var messages = 0
            for await delivery in consumer {
                messages += 1
                let envelope = try? JSONSerialization.jsonObject(with: Data(delivery.body)) as? [String: Any]
                if let operation = envelope?["operationId"] as? String { operations.insert(operation) }
                try await amqp.ack(delivery)
                if messages == total { break }
            }
            await consumer.cancel()
            return (messages, operations)
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}
