import ArgumentParser
import Foundation
import Logging
import PazAMQP
import PazControlPlane
import PazLocalServers
import PazSchemas

/// Starts a private broker, runs `body` with a connection factory, always stops the broker.
private func withBroker<T>(
    _ body: (@escaping (String) async throws -> AMQPConnection, _ brokerPID: Int32?) async throws -> T
) async throws -> T {
    print("starting rabbitmq-server on a free loopback port…")
    let server = try await RabbitMQServer.start()
    var logger = Logger(label: "paz-bench.amqp")
    logger.logLevel = .warning
    let open: (String) async throws -> AMQPConnection = { [logger] name in
        let connection = AMQPConnection(
            configuration: AMQPConfiguration(
                host: server.host, port: server.port, user: server.user, password: server.password,
                connectionName: name),
            logger: logger)
        try await connection.waitUntilConnected()
        return connection
    }
    do {
        let result = try await body(open, server.brokerProcess?.pid)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}

/// `amqp-confirms`: persistent publishes to a quorum queue, each confirmed by the broker.
struct AMQPConfirmsBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amqp-confirms",
        abstract: "Confirmed persistent publishes per second to a quorum queue (target ≥ 5,000 msg/s).")

    @Option(help: "Messages to publish.")
    var messages = 20_000

    @Option(help: "Publishes in flight at once (pipelined confirms).")
    var inFlight = 1_000

    @Option(help: "Body size in bytes.")
    var bodySize = 256

    func run() async throws {
        let rate = try await withBroker { open, _ in
            let connection = try await open("bench-confirms")
            try await connection.declare(AMQPQueue.quorum(name: "bench-confirms", deliveryLimit: 5))
            let body = [UInt8](repeating: 0x61, count: bodySize)
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                var next = 0
                func add() {
                    let id = next
                    next += 1
                    group.addTask {
                        try await connection.publish(
                            exchange: "", routingKey: "bench-confirms", body: body,
                            properties: AMQPProperties(messageID: "\(id)"))
                    }
                }
                while next < min(inFlight, messages) { add() }
                while try await group.next() != nil {
                    if next < messages { add() }
                }
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            let stored = try await connection.queueStatus("bench-confirms")?.messageCount ?? -1
            await connection.close()
            print("messages: \(messages), body: \(bodySize) B, in flight: \(inFlight)")
            print("elapsed: \(String(format: "%.3f", seconds)) s, queue holds \(stored) messages")
            return Double(messages) / seconds
        }
        print("amqp-confirms: \(Int(rate.rounded())) msg/s")
    }
}

/// `amqp-rpc`: request/reply round trips (encoded envelopes) through the control plane's RPC client
/// and a consumer with a responder on another connection, and in alternating blocks of the same run
/// the transport's floor: the same round trip through PazAMQP alone (the request's bytes echoed, no
/// envelopes, no consumer kit), so both see the same broker and the same noise.
struct AMQPRPCBenchmark: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amqp-rpc",
        abstract: "RPC round-trip latency with direct reply-to (target p50 ≤ 0.5 ms).")

    @Option(help: "Round trips to measure on each path (after 200 warm-up calls), in blocks of 500.")
    var calls = 5_000

    @Flag(help: "Use a quorum request queue (as the SSH broker's) instead of the transient classic queue the drivers' query queues are.")
    var quorumQueue = false

    /// Latencies (ms) and this process's and the broker's CPU over the control plane's calls.
    private struct Measured {
        var controlPlane: [Double] = []
        var transport: [Double] = []
        var cpu = ProcessCPU(user: 0, system: 0)
        var transportCPU = ProcessCPU(user: 0, system: 0)
        var brokerCPU: ProcessCPU?
    }

    func run() async throws {
        let measured = try await withBroker { open, brokerPID in
            let client = try await open("bench-rpc-client")
            let responderConnection = try await open("bench-rpc-responder")
            try await responderConnection.declare(AMQPExchange(name: Routing.commandsExchange, kind: .direct))
            for queue in ["bench-rpc", "bench-rpc-floor"] {
                if quorumQueue {
                    try await ControlPlaneTopology.declareQueue(
                        queue, boundTo: Routing.commandsExchange, routingKey: queue, on: responderConnection)
                } else {
                    try await ControlPlaneTopology.declareRequestQueue(
                        queue, boundTo: Routing.commandsExchange, routingKey: queue, on: responderConnection)
                }
            }
            // The control plane's own RPC path: RPCClient → MessageConsumer → RPCResponder, as a driver's queries.
            let consumer = MessageConsumer(
                CommandPayload.self, amqp: responderConnection, ready: { true },
                settings: ConsumerSettings(queue: "bench-rpc", prefetch: 32, concurrent: true, retry: .requests),
                logger: Logger(label: "paz-bench.rpc-responder")
            ) { request in
                await RPCResponder(amqp: responderConnection).answer(
                    request.delivery, kind: request.envelope.kind,
                    with: request.envelope.reply(.catalogLocations(CatalogLocations(locations: []))))
            }
            let responder = Task { await consumer.run() }
            // The floor: PazAMQP's call, consume, unconfirmed publish and ack, nothing else.
            let echo = try await responderConnection.consume(queue: "bench-rpc-floor", prefetch: 32)
            let echoing = Task {
                for await delivery in echo {
                    responderConnection.publishUnconfirmed(
                        exchange: "", routingKey: delivery.properties.replyTo ?? "", body: delivery.body,
                        properties: AMQPProperties(correlationID: delivery.properties.correlationID, persistent: false))
                    responderConnection.acknowledge(delivery)
                }
            }
            let rpc = RPCClient(amqp: client)
            let tenant = TenantID("tnt_bench")
            func request() -> CommandEnvelope {
                CommandEnvelope(tenantId: tenant, trace: .newTrace(), payload: .catalogLocations(CatalogLocationsQuery()))
            }
            func call() async throws {
                _ = try await rpc.call(request(), exchange: Routing.commandsExchange, routingKey: "bench-rpc", timeout: .seconds(5))
            }
            let floorBody = try MessageCodec.encodeBody(request())
            func floorCall() async throws {
                _ = try await client.call(
                    exchange: Routing.commandsExchange, routingKey: "bench-rpc-floor", body: floorBody,
                    properties: AMQPProperties(persistent: false), timeout: .seconds(5))
            }
            func timed(_ body: () async throws -> Void) async rethrows -> Double {
                let start = ContinuousClock.now
                try await body()
                let elapsed = ContinuousClock.now - start
                return Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1e3
            }
            for _ in 0..<200 {
                try await call()
                try await floorCall()
            }
            var results = Measured()
            var brokerCPU = ProcessCPU(user: 0, system: 0)
            while results.controlPlane.count < calls {
                let block = min(500, calls - results.controlPlane.count)
                let cpuBefore = ProcessCPU.now()
                let brokerBefore = brokerPID.flatMap(ProcessCPU.of)
                for _ in 0..<block { results.controlPlane.append(try await timed(call)) }
                results.cpu = results.cpu + (ProcessCPU.now() - cpuBefore)
                if let before = brokerBefore, let after = brokerPID.flatMap(ProcessCPU.of) {
                    brokerCPU = brokerCPU + (after - before)
                    results.brokerCPU = brokerCPU
                }
                let transportBefore = ProcessCPU.now()
                for _ in 0..<block { results.transport.append(try await timed(floorCall)) }
                results.transportCPU = results.transportCPU + (ProcessCPU.now() - transportBefore)
            }
            responder.cancel()
            echoing.cancel()
            _ = try? await client.deleteQueue("bench-rpc")
            _ = try? await client.deleteQueue("bench-rpc-floor")
            await client.close()
            await responderConnection.close()
            return results
        }
        let count = Double(measured.controlPlane.count)
        let cpu = measured.cpu
        print(String(format: "this process's CPU per round trip (client and responder): %.0f µs (user %.0f, system %.0f), %.1f context switches",
                     cpu.total / count, cpu.user / count, cpu.system / count, cpu.contextSwitches / count))
        let transportCPU = measured.transportCPU
        print(String(format: "the transport alone (PazAMQP, floor calls), CPU per round trip: %.0f µs (user %.0f, system %.0f), %.1f context switches",
                     transportCPU.total / count, transportCPU.user / count, transportCPU.system / count,
                     transportCPU.contextSwitches / count))
        if let broker = measured.brokerCPU {
            print(String(format: "the broker's CPU per round trip: %.0f µs (user %.0f, system %.0f)",
                         broker.total / count, broker.user / count, broker.system / count))
        }
        let controlPlane = Percentiles(measured.controlPlane)
        let transport = Percentiles(measured.transport)
        print("calls: \(measured.controlPlane.count) on each path, alternating in blocks of 500")
        print("control plane (RPCClient → MessageConsumer → RPCResponder): \(controlPlane)")
        print("transport floor (PazAMQP alone, the request's bytes echoed): \(transport)")
        print("request queue: \(quorumQueue ? "quorum (as the SSH broker's)" : "transient classic (as the drivers' query queues)")")
        print(String(format: "amqp-rpc: %.3f ms (floor %.3f ms)", controlPlane.p50, transport.p50))
    }
}

/// p50/p90/p99/max of latencies in milliseconds.
private struct Percentiles: CustomStringConvertible {
    let sorted: [Double]

    init(_ latencies: [Double]) { sorted = latencies.sorted() }

    func at(_ p: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
    var p50: Double { at(0.5) }

    var description: String {
        String(format: "p50 %.3f ms, p90 %.3f ms, p99 %.3f ms, max %.3f ms", at(0.5), at(0.9), at(0.99), sorted.last ?? 0)
    }
}

/// This process's CPU time so far, in microseconds, and its context switches (getrusage).
struct ProcessCPU {
    var user: Double
    var system: Double
    var contextSwitches = 0.0
    var total: Double { user + system }

    static func now() -> ProcessCPU {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        func microseconds(_ time: timeval) -> Double { Double(time.tv_sec) * 1e6 + Double(time.tv_usec) }
        return ProcessCPU(
            user: microseconds(usage.ru_utime), system: microseconds(usage.ru_stime),
            contextSwitches: Double(usage.ru_nvcsw + usage.ru_nivcsw))
    }

    /// Another process's CPU time so far (`/proc/PID/stat`, clock ticks), or nil when unreadable.
    static func of(_ pid: Int32) -> ProcessCPU? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let afterName = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state is field 3, utime 14 and stime 15.
        let fields = stat[stat.index(after: afterName)...].split(separator: " ")
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        let tick = 1e6 / Double(sysconf(Int32(_SC_CLK_TCK)))
        return ProcessCPU(user: user * tick, system: system * tick)
    }

    static func + (left: ProcessCPU, right: ProcessCPU) -> ProcessCPU {
        ProcessCPU(
            user: left.user + right.user, system: left.system + right.system,
            contextSwitches: left.contextSwitches + right.contextSwitches)
    }

    static func - (after: ProcessCPU, before: ProcessCPU) -> ProcessCPU {
        ProcessCPU(
            user: after.user - before.user, system: after.system - before.system,
            contextSwitches: after.contextSwitches - before.contextSwitches)
    }
}
