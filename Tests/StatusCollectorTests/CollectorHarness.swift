import Foundation
import Logging
import MetricsTestKit
import PazAMQP
import PazControlPlane
import PazLocalServers
import PazRedis
import PazSchemas
import PazServiceKit
import PazStatusCollector
import PazStore
import PazTestSupport
import ServiceLifecycle
import Synchronization
import Testing

/// A unique DNS-label name (tenants, clusters, drivers, queues) for one test.
func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// The broker of this suite. Not the run-wide shared one: RabbitMQ 3.10 crashes the channels that
/// publish to an exchange while a quorum queue bound to it is being deleted (541 INTERNAL_ERROR),
/// so other suites deleting their queues bound to `paz.events` must not hit these tests, and these
/// tests never delete their events queues (the broker goes away with the run).
enum CollectorBroker {
    private static let fixture = SharedFixture<RabbitMQServer> { try await TestRabbitMQ.startPrivate() }

    static func server() async throws -> RabbitMQServer { try await fixture.value() }
}

/// A connection to a test broker.
func connect(_ server: RabbitMQServer, name: String) async throws -> AMQPConnection {
    let connection = AMQPConnection(configuration: amqpConfiguration(server, name: name), logger: Logger(label: "test.\(name)"))
    try await connection.waitUntilConnected(timeout: .seconds(30))
    return connection
}

func amqpConfiguration(_ server: RabbitMQServer, name: String) -> AMQPConfiguration {
    AMQPConfiguration(
        host: server.host, port: server.port, user: server.user, password: server.password, connectionName: name,
        reconnectMaximumDelay: .seconds(1))
}

/// Everything a collector test needs: its own Redis (the collector polls every tenant it finds, so
/// tests running in parallel must not share one), the shared broker, a store to arrange data, and
/// the collector's own events queue.
struct CollectorHarness {
    let redisServer: RedisServer
    let rabbit: RabbitMQServer
    let redis: RedisClient
    let store: Store
    let configuration: CollectorConfiguration
    let metrics = TestMetrics()
    let runtime: ServiceRuntime

    static func make(interval: Duration, timeout: Duration, name: String) async throws -> CollectorHarness {
        let redisServer = try await TestRedis.privateServer(appendOnly: false)
        let rabbit = try await CollectorBroker.server()
        let redisConfiguration = RedisConfiguration(host: redisServer.host, port: redisServer.port)
        let redis = RedisClient(configuration: redisConfiguration)
        let configuration = CollectorConfiguration(
            amqp: amqpConfiguration(rabbit, name: "collector-\(name)"), redis: redisConfiguration,
            interval: interval, timeout: timeout, eventsQueue: unique("paz.collector.events.test"),
            redisProbeInterval: .milliseconds(200))
        let runtime = ServiceRuntime(
            configuration: ServiceKitConfiguration(serviceName: "status-collector-test", opsPort: 0),
            logger: Logger(label: "test.collector.\(name)"))
        return CollectorHarness(
            redisServer: redisServer, rabbit: rabbit, redis: redis, store: Store(redis: redis),
            configuration: configuration, runtime: runtime)
    }

    /// Runs the collector's service group while `body` runs, then shuts it down gracefully.
    func withCollector<T: Sendable>(_ body: (ServiceGroup) async throws -> T) async throws -> T {
        let collector = buildStatusCollectorServices(configuration: configuration, runtime: runtime, metricsFactory: metrics)
        let group = buildServiceGroup(runtime, services: collector.services)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                let result = try await body(group)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                return result
            } catch {
                await group.triggerGracefulShutdown()
                try? await tasks.waitForAll()
                throw error
            }
        }
    }

    /// A tenant with one cluster of `count` machines on `driver`.
    func createCluster(tenant: TenantID, driver: ResourceName, count: Int) async throws -> [MachineRecord] {
        let clusterId = ClusterID.random()
        let clusterName = try ResourceName(unique("c"))
        let machines = try (1...count).map { index in
            MachineRecord(name: try ResourceName("\(clusterName)-\(index)"), clusterId: clusterId, driver: driver)
        }
        let cluster = ClusterRecord(
            id: clusterId, name: clusterName, driver: driver, machineIds: machines.map(\.id))
        try await store.createCluster(cluster, machines: machines, tenant: tenant)
        return machines
    }

    func createTenant() async throws -> TenantID {
        let tenant = TenantRecord(name: try ResourceName(unique("t")))
        try await store.createTenant(tenant)
        return tenant.id
    }

    /// The `paz_collector_…` counter's value, 0 when it was never touched.
    func counter(_ label: String, _ dimensions: [(String, String)]) -> Int64 {
        (try? metrics.expectCounter(label, dimensions))?.totalValue ?? 0
    }

    func stop() async {
        await redis.close()
        await redisServer.stop()
    }
}

/// A driver on the real broker: consumes `paz.driver.<name>.queries` with the control plane's
/// consumer and answers `machine.states` from a table the test controls, recording every request.
final class StatesResponder: Sendable {
    let driver: ResourceName
    let connection: AMQPConnection
    private let states = Mutex<[MachineID: MachineState]>([:])
    private let received = Mutex<[CommandEnvelope]>([])

    init(driver: ResourceName, server: RabbitMQServer) async throws {
        self.driver = driver
        connection = try await connect(server, name: "driver-\(driver.rawValue)")
        try await ControlPlaneTopology.declareShared(on: connection)
        try await ControlPlaneTopology.declareRequestQueue(
            Routing.driverQueryQueue(driver: driver), boundTo: Routing.commandsExchange,
            routingKey: Routing.queryRoutingKey(driver: driver), on: connection)
    }

    func set(_ state: MachineState, for machines: [MachineRecord]) {
        states.withLock { table in for machine in machines { table[machine.id] = state } }
    }

    var requests: [CommandEnvelope] { received.withLock { $0 } }

    /// Answers until the calling task is cancelled.
    func serve() async throws {
        let responder = RPCResponder(amqp: connection)
        let consumer = MessageConsumer(
            CommandPayload.self, amqp: connection, ready: { true },
            settings: ConsumerSettings(
                queue: Routing.driverQueryQueue(driver: driver), prefetch: 32, concurrent: true, retry: .requests),
            logger: Logger(label: "test.states-responder")
        ) { [self] request in
            let command = request.envelope
            received.withLock { $0.append(command) }
            guard case .machineStates(let query) = command.payload else {
                return .deadLetter(reason: "unexpected", detail: command.kind.rawValue)
            }
            let table = states.withLock { $0 }
            let now = Date()
            let answer = MachineStates(states: query.machines.map {
                MachineStateObservation(machine: $0, state: table[$0.machineId] ?? .notFound, observedAt: now)
            })
            return await responder.answer(request.delivery, kind: command.kind, with: command.reply(.states(answer)))
        }
        await consumer.run()
    }

    /// Stops answering for good and removes the queue.
    func remove() async throws {
        try await connection.deleteQueue(Routing.driverQueryQueue(driver: driver))
        await connection.close()
    }
}

/// A queue of the test's own bound to `paz.events` for `event.machine.state`, collecting events of one tenant.
final class EventCapture: Sendable {
    let connection: AMQPConnection
    let queue = unique("test.state-events")
    private let events = Mutex<[EventEnvelope]>([])

    init(server: RabbitMQServer) async throws {
        connection = try await connect(server, name: "capture")
        try await connection.declare(AMQPExchange(name: Routing.eventsExchange, kind: .topic))
        try await connection.declare(AMQPQueue(name: queue, durable: false, autoDelete: true))
        try await connection.bind(
            AMQPBinding(queue: queue, exchange: Routing.eventsExchange, routingKey: Routing.eventRoutingKey(.eventMachineState)))
    }

    /// Collects until the calling task is cancelled.
    func collect() async throws {
        for await delivery in try await connection.consume(queue: queue, prefetch: 64) {
            if let event = try? MessageCodec.decode(EventPayload.self, from: delivery.body) {
                events.withLock { $0.append(event) }
            }
            try await connection.ack(delivery)
        }
    }

    /// The state changes seen for `tenant`.
    func changes(tenant: TenantID) -> [MachineStateChanged] {
        events.withLock { events in
            events.compactMap { event in
                guard event.tenantId == tenant, case .machineState(let change) = event.payload else { return nil }
                return change
            }
        }
    }
}
