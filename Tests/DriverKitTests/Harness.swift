import Foundation
import Logging
import PazAMQP
import PazDriverKit
import PazLocalServers
import PazRedis
import PazSchemas
import PazSecrets
import PazStore
import PazTestSupport
import ServiceLifecycle

/// A driver service for one test: a unique driver name and tenant, the shared RabbitMQ and Redis,
/// and a private queue receiving this tenant's events.
struct Harness {
    let driver: RecordingDriver
    let connection: AMQPConnection
    let store: Store
    let tenant: TenantID
    let eventQueue: String
    let group: ServiceGroup
    let running: Task<Void, any Error>
    let configuration: DriverServiceConfiguration
    /// This harness's copy of everything dead-lettered from its start.
    let deadLetters: DeadLetterDrain
    var queueName: String { Routing.driverCommandQueue(driver: driver.name) }

    /// `authorizeSenders` is off by default: commands are sent as the node's one user (`guest`).
    static func start(
        prefetch: Int = 8, authorizeSenders: Bool = false, leaseTTL: Duration = .seconds(30)
    ) async throws -> Harness {
        let servers = try await Servers.ready()
        let (rabbit, redisServer) = (servers.rabbit, servers.redis)
        let suffix = ULID.make().suffix(10).lowercased()
        let driver = RecordingDriver(name: try ResourceName("t-\(suffix)"))
        let logger = Logger(label: "test.driverkit")
        let amqp = AMQPConfiguration(host: rabbit.host, port: rabbit.port, user: rabbit.user, password: rabbit.password,
                                     connectionName: "driverkit-test-\(suffix)")
        let connection = AMQPConnection(configuration: amqp, logger: logger)
        try await connection.waitUntilConnected()
        let redis = RedisClient(configuration: RedisConfiguration(host: redisServer.host, port: redisServer.port))
        let store = Store(redis: redis, secretBox: SecretBox(masterKey: try MasterKey(bytes: Array(repeating: 7, count: 32))))
        let configuration = DriverServiceConfiguration(
            amqp: amqp, redis: RedisConfiguration(host: redisServer.host, port: redisServer.port), prefetch: prefetch,
            leaseTTL: leaseTTL, heartbeatTTL: .seconds(3), instanceId: "test-\(suffix)", authorizeSenders: authorizeSenders)
        let tenant = try TenantID("tnt_\(suffix)")
        let eventQueue = "test.events.\(suffix)"
        try await connection.declare(AMQPExchange(name: Routing.eventsExchange, kind: .topic))
        try await connection.declare(AMQPQueue(name: eventQueue, durable: false, autoDelete: true))
        try await connection.bind(AMQPBinding(queue: eventQueue, exchange: Routing.eventsExchange, routingKey: "event.#"))
        let service = DriverService(driver: driver, connection: connection, store: store, configuration: configuration, logger: logger)
        let group = ServiceGroup(services: [service], logger: logger)
        let deadLetters = try await DeadLetterDrain.open(on: connection)
        let running = Task { try await group.run() }
        let harness = Harness(driver: driver, connection: connection, store: store, tenant: tenant, eventQueue: eventQueue,
                              group: group, running: running, configuration: configuration, deadLetters: deadLetters)
        // Ready once the driver's queue has a consumer.
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline {
            if let status = try? await connection.queueStatus(harness.queueName), status.consumerCount > 0 { return harness }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw LocalServerError.notReady(server: "driver service consumer", address: harness.queueName, logTail: "")
    }

    /// Graceful shutdown of the service (its in-flight commands are acked), keeping the connection open.
    func shutdown() async throws {
        await group.triggerGracefulShutdown()
        try await running.value
    }

    func stop() async throws {
        try await shutdown()
        _ = try? await connection.deleteQueue(eventQueue)
        _ = try? await connection.deleteQueue(queueName)
        await deadLetters.close()
        await connection.close()
    }

    func command(_ payload: CommandPayload, operation: OperationID? = .random()) -> CommandEnvelope {
        CommandEnvelope(tenantId: tenant, operationId: operation, trace: TraceContext.newTrace(), payload: payload)
    }

    func send(_ envelope: CommandEnvelope) async throws {
        try await sendRaw(try MessageCodec.encodeBody(envelope), kind: envelope.kind.rawValue)
    }

    func sendRaw(_ body: [UInt8], kind: String = "machine.create") async throws {
        try await connection.publish(
            exchange: Routing.commandsExchange, routingKey: driver.name.rawValue, body: body,
            properties: AMQPProperties(contentType: Routing.contentType, type: kind))
    }

    /// Events of this test's tenant until `until` returns true for the list (or the timeout).
    func events(timeout: Duration = .seconds(20), until done: ([EventEnvelope]) -> Bool) async throws -> [EventEnvelope] {
        let consumer = try await connection.consume(queue: eventQueue, prefetch: 50)
        var events: [EventEnvelope] = []
        let timer = Task { try await Task.sleep(for: timeout); await consumer.cancel() }
        defer { timer.cancel() }
        for await delivery in consumer {
            try await connection.ack(delivery)
            // The broker is shared with other suites, some of which publish undecodable events on purpose.
            guard case .event(let event) = try? MessageCodec.decode(Data(delivery.body)), event.tenantId == tenant else { continue }
            events.append(event)
            if done(events) { break }
        }
        await consumer.cancel()
        return events
    }

    /// The dead-lettered messages whose body contains `marker`, until `count` of them or the timeout
    /// (from this harness's own copy of the dead letters, opened at start).
    func deadLettered(marker: String, count: Int, timeout: Duration = .seconds(10)) async throws -> [AMQPDelivery] {
        try await deadLetters.take(marker: marker, count: count, timeout: timeout)
    }
}

extension EventEnvelope {
    var operationProgress: OperationProgress? {
        if case .operation(let progress) = payload { progress } else { nil }
    }
    var stateChange: MachineStateChanged? {
        if case .machineState(let change) = payload { change } else { nil }
    }
}

func count(_ events: [EventEnvelope], phase: OperationPhase) -> Int {
    events.filter { $0.operationProgress?.phase == phase }.count
}

func sampleCreate(_ cluster: ClusterID = .random(), machine: MachineID = .random(), driver: ResourceName) -> MachineCreate {
    MachineCreate(driver: driver, clusterId: cluster, clusterName: "web", machineId: machine, machineName: "web-1",
                  options: ["flavour": .string("vanilla")])
}
