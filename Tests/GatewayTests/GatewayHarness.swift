import Foundation
import Logging
import PazAMQP
import PazControlPlane
import PazGateway
import PazGatewayAPI
import PazGatewayClient
import PazHTTP
import PazLocalServers
import PazRedis
import PazSchemas
import PazSecrets
import PazServiceKit
import PazStore
import PazTestSupport
import ServiceLifecycle
import Testing

/// A gateway running in-process on a free loopback port against real Redis and RabbitMQ, with an
/// HTTP client, a store and an AMQP connection of the test's own (to play the driver's part).
final class GatewayHarness: Sendable {
    let baseURL: String
    /// The gateway's port (for raw requests).
    let port: Int
    let adminToken: String
    let store: Store
    let amqp: AMQPConnection
    let http: PazHTTP.HTTPClient
    /// The gateway's circuit breakers (Redis, RabbitMQ).
    let breakers: GatewayBreakers
    private let group: ServiceGroup
    private let task: Task<Void, any Error>
    private let scratch: URL
    /// The broker started for this gateway (it was given a private Redis), stopped with it.
    private let ownRabbit: RabbitMQServer?

    /// Starts a gateway. `amqpPort` overrides the broker port (e.g. one nothing listens on); `redis`
    /// replaces the shared Redis and `rabbit` the shared broker (e.g. private ones the test stops).
    /// `logger` receives the gateway's log; `configure` adjusts its settings (limits, no master key…).
    static func start(
        amqpPort: Int? = nil, redis givenRedis: RedisServer? = nil, rabbit givenRabbit: RabbitMQServer? = nil,
        staleAfterSeconds: Int = 30, logger: Logger = Logger(label: "gateway-test"),
        configure: (inout GatewayConfiguration) -> Void = { _ in }
    ) async throws -> GatewayHarness {
        // A gateway consumes the shared queues (events, dead letters) of its broker and writes what
        // they say to its Redis, and its outbox relay publishes the entries of its Redis to its broker.
        // So a gateway never mixes a private server with a shared one: it would take other tests'
        // events into a Redis they do not read, or relay their commands to a broker without their queues.
        var ownRabbit: RabbitMQServer?
        let redisServer: RedisServer
        if let givenRedis {
            redisServer = givenRedis
        } else if givenRabbit != nil {
            redisServer = try await TestRedis.privateServer(appendOnly: false)
        } else {
            redisServer = try await TestRedis.shared()
        }
        let rabbit: RabbitMQServer
        if let givenRabbit {
            rabbit = givenRabbit
        } else if redisServer.port != (try await TestRedis.shared()).port, amqpPort == nil {
            rabbit = try await TestRabbitMQ.startPrivate()
            ownRabbit = rabbit
        } else {
            rabbit = try await TestRabbitMQ.sharedServer()
        }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("paz-gw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let keyFile = scratch.appendingPathComponent("master.key")
        _ = try MasterKey.create(at: keyFile)
        let adminToken = "admin-" + UUID().uuidString
        let amqpConfiguration = AMQPConfiguration(
            host: "127.0.0.1", port: amqpPort ?? rabbit.port, user: rabbit.user, password: rabbit.password,
            connectionName: "gateway-test", confirmTimeout: .seconds(5), connectTimeout: .seconds(1))
        var configuration = GatewayConfiguration(
            httpHost: "127.0.0.1", httpPort: 0, amqp: amqpConfiguration,
            redis: RedisConfiguration(host: "127.0.0.1", port: redisServer.port),
            adminToken: Secret(adminToken), masterKeyFile: keyFile.path, staleAfterSeconds: staleAfterSeconds,
            catalogTimeout: .seconds(2))
        configure(&configuration)
        let runtime = ServiceRuntime(
            configuration: ServiceKitConfiguration(serviceName: "paz-gateway-test", opsPort: 0), logger: logger)
        let services = try buildGatewayServices(configuration: configuration, runtime: runtime)
        let group = buildServiceGroup(runtime, services: services.services)
        let task = Task { try await group.run() }
        let port = await services.server.listeningPort()
        let amqp = AMQPConnection(
            configuration: AMQPConfiguration(
                host: "127.0.0.1", port: rabbit.port, user: rabbit.user, password: rabbit.password,
                connectionName: "gateway-test-driver"),
            logger: logger)
        try await amqp.waitUntilConnected()
        if amqpPort == nil {
            // Ready once its queues (events, dead letters) have a consumer: a quorum queue reports
            // consumers only once its leader runs, and RabbitMQ 3.10 closes the whole connection
            // (541) of a consumer that comes earlier, with every delivery in flight on it.
            try await services.amqp.waitUntilConnected()
            for queue in [Routing.gatewayEventsQueue, Routing.gatewayDeadLettersQueue] {
                _ = await eventually(timeout: .seconds(20)) { ((try? await amqp.queueStatus(queue))?.consumerCount ?? 0) > 0 }
            }
        }
        var httpConfiguration = PazHTTP.HTTPClient.Configuration()
        httpConfiguration.retry = .none
        let http = PazHTTP.HTTPClient(configuration: httpConfiguration, logger: logger)
        return GatewayHarness(
            baseURL: "http://127.0.0.1:\(port)", port: port, adminToken: adminToken, store: services.store, amqp: amqp, http: http,
            breakers: services.breakers, group: group, task: task, scratch: scratch, ownRabbit: ownRabbit)
    }

    private init(
        baseURL: String, port: Int, adminToken: String, store: Store, amqp: AMQPConnection, http: PazHTTP.HTTPClient,
        breakers: GatewayBreakers, group: ServiceGroup, task: Task<Void, any Error>, scratch: URL, ownRabbit: RabbitMQServer?
    ) {
        self.ownRabbit = ownRabbit
        self.breakers = breakers
        self.baseURL = baseURL
        self.port = port
        self.adminToken = adminToken
        self.store = store
        self.amqp = amqp
        self.http = http
        self.group = group
        self.task = task
        self.scratch = scratch
    }

    func stop() async {
        await group.triggerGracefulShutdown()
        _ = try? await task.value
        await amqp.close()
        await http.shutdown()
        await ownRabbit?.stop()
        try? FileManager.default.removeItem(at: scratch)
    }

    /// A generated client authenticated with `token`.
    func client(token: String?) -> Client {
        Client(gateway: URL(string: baseURL)!, token: token, http: http)
    }

    /// A raw request (for error cases the generated client does not model).
    func request(
        _ method: PazHTTP.HTTPMethod, _ path: String, token: String?, json: String? = nil, headers: [String: String] = [:]
    ) async throws -> PazHTTP.HTTPResponse {
        var fields = PazHTTP.HTTPHeaders()
        if let token { fields.set("Authorization", "Bearer \(token)") }
        if json != nil { fields.set("Content-Type", "application/json") }
        for (name, value) in headers { fields.set(name, value) }
        return try await http.send(PazHTTP.HTTPRequest(
            method: method, url: baseURL + path, headers: fields, body: Data((json ?? "").utf8), idempotent: false))
    }

    /// ``request(_:_:token:json:headers:)`` again after its `Retry-After` (2 s at most) while the
    /// gateway answers 503 `dependency-unavailable`, for up to `patience`: what a client does when the
    /// shared test broker drops a connection under load (CI saw RabbitMQ close the gateway's with
    /// 541 INTERNAL_ERROR while every suite ran at once).
    func requestRidingOutBrokerDrops(
        _ method: PazHTTP.HTTPMethod, _ path: String, token: String?, json: String? = nil,
        headers: [String: String] = [:], patience: Duration = .seconds(30)
    ) async throws -> PazHTTP.HTTPResponse {
        let deadline = ContinuousClock.now + patience
        while true {
            let answer = try await request(method, path, token: token, json: json, headers: headers)
            let type = (try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["type"] as? String
            guard answer.status == 503, type == "urn:paz:problem:dependency-unavailable", ContinuousClock.now < deadline
            else { return answer }
            let wait = min(Int(answer.headers["Retry-After"] ?? "1") ?? 1, 2)
            try await Task.sleep(for: .seconds(wait))
        }
    }

    /// Creates a tenant (unique name) with `quota` and returns its id and a fresh token.
    func makeTenant(_ prefix: String, quota: Int = 10) async throws -> (id: String, token: String) {
        let name = "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())"
        let created = try await request(.post, "/v1/admin/tenants", token: adminToken,
                                        json: #"{"name":"\#(name)","quota":{"machines":\#(quota)}}"#)
        try #require(created.status == 201, "\(String(decoding: created.body, as: UTF8.self))")
        let tenant = try JSONSerialization.jsonObject(with: created.body) as! [String: Any]
        let token = try await request(.post, "/v1/admin/tenants/\(name)/tokens", token: adminToken, json: #"{"name":"test"}"#)
        try #require(token.status == 201)
        let tokenBody = try JSONSerialization.jsonObject(with: token.body) as! [String: Any]
        return (tenant["id"] as! String, tokenBody["token"] as! String)
    }

    /// Announces a driver (unique name) in the registry and declares its command and query queues,
    /// as the driver kit does at start.
    func announceDriver(
        _ prefix: String, options: [CreateOptionSpec], capabilities: [DriverCapability] = [.create, .remove, .start, .stop]
    ) async throws -> ResourceName {
        let name = try ResourceName("\(prefix)-\(UUID().uuidString.prefix(8).lowercased())")
        try await store.announce(DriverAnnouncement(
            name: name, version: "0.1.0", instanceId: "test-\(UUID().uuidString.prefix(6))", capabilities: capabilities,
            createOptions: options, ttlSeconds: 120, startedAt: Date()))
        try await ControlPlaneTopology.declareShared(on: amqp)
        try await ControlPlaneTopology.declareQueue(
            Routing.driverCommandQueue(driver: name), boundTo: Routing.commandsExchange,
            routingKey: Routing.commandRoutingKey(driver: name), on: amqp)
        try await ControlPlaneTopology.declareRequestQueue(
            Routing.driverQueryQueue(driver: name), boundTo: Routing.commandsExchange,
            routingKey: Routing.queryRoutingKey(driver: name), on: amqp)
        return name
    }

    /// Reads up to `count` commands from the driver's queue (acking them), waiting at most `timeout`.
    func drainCommands(driver: ResourceName, count: Int, timeout: Duration = .seconds(5)) async throws -> [CommandEnvelope] {
        let consumer = try await amqp.consume(queue: Routing.driverCommandQueue(driver: driver), prefetch: 100)
        let amqp = amqp
        let received = await withTaskGroup(of: [CommandEnvelope].self) { group in
            group.addTask {
                var envelopes: [CommandEnvelope] = []
                for await delivery in consumer {
                    if let envelope = try? MessageCodec.decode(CommandPayload.self, from: delivery.body) {
                        envelopes.append(envelope)
                    }
                    try? await amqp.ack(delivery)
                    if envelopes.count >= count { break }
                }
                return envelopes
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return []
            }
            var result: [CommandEnvelope] = []
            for await envelopes in group {
                if !envelopes.isEmpty || result.isEmpty { result = envelopes }
                group.cancelAll()
                break
            }
            return result
        }
        await consumer.cancel()
        return received
    }

    /// Publishes an `event.operation` as a driver would.
    func publishProgress(
        tenant: String, operation: String, command: MessageKind, machines: [MachineProgress], phase: OperationPhase
    ) async throws {
        let envelope = EventEnvelope(
            tenantId: try TenantID(tenant), operationId: try OperationID(operation), trace: .newTrace(),
            payload: .operation(OperationProgress(command: command, phase: phase, machines: machines)))
        try await ConfirmedPublisher(amqp: amqp).publish(.event(envelope))
    }
}

/// JSON helpers for raw responses.
func json(_ response: PazHTTP.HTTPResponse) -> [String: Any] {
    (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:]
}

/// Polls `condition` every 100 ms until it holds or `timeout` passes.
func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(100))
    }
    return try await condition()
}
