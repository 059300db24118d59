import Foundation
import Logging
import MetricsTestKit
import PazAMQP
import PazLocalServers
import PazOpenSSH
import PazRedis
import PazSchemas
import PazSecrets
import PazServiceKit
import PazSSHBroker
import PazStore
import PazTestSupport
import ServiceLifecycle
import Synchronization
import Testing

/// A unique DNS-label name (tenants, clusters, queues) for one test.
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

/// This suite's servers, started once, one after the other: the run's shared RabbitMQ (every test
/// uses a request queue of its own), and a Redis of the suite's own, so a scan of every key sees
/// only what the brokers of these tests wrote.
struct BrokerServers: Sendable {
    let rabbit: RabbitMQServer
    let redis: RedisServer

    private static let fixture = SharedFixture<BrokerServers> {
        let rabbit = try await TestRabbitMQ.sharedServer()
        return BrokerServers(rabbit: rabbit, redis: try await TestRedis.privateServer(appendOnly: false))
    }

    static func ready() async throws -> BrokerServers { try await fixture.value() }
}

/// Log lines a handler wrote, kept in memory.
final class CapturedLog: Sendable {
    private let lines = Mutex<[String]>([])

    var output: LogOutput { LogOutput { [self] line in lines.withLock { $0.append(line) } } }
    var all: [String] { lines.withLock { $0 } }
    var text: String { all.joined() }
}

enum HarnessError: Error, CustomStringConvertible {
    case unexpectedReply(String)
    case brokerNotReady

    var description: String {
        switch self {
        case .unexpectedReply(let what): "unexpected reply: \(what)"
        case .brokerNotReady: "the broker did not become ready"
        }
    }
}

/// One test's broker set-up: its own request queue on the shared RabbitMQ, the suite's Redis, a
/// master key, a client connection, and in-memory logs (at trace level) and metrics of every broker
/// instance it starts.
struct BrokerHarness: Sendable {
    let servers: BrokerServers
    let redis: RedisClient
    let store: Store
    let client: AMQPConnection
    let configuration: BrokerConfiguration
    let masterKey: MasterKey
    let log = CapturedLog()
    let metrics = TestMetrics()

    /// `authorizeSenders` is off by default: ``client`` logs in as the node's one user (`guest`), as
    /// the services of a single-user set-up do. ``AuthorizationTests`` turn it on and call the broker
    /// as the per-service users of ``ServiceUsers``.
    static func make(
        name: String, defaultTTLSeconds: Int = 300, maxTTLSeconds: Int = 3600, authorizeSenders: Bool = false
    ) async throws -> BrokerHarness {
        let servers = try await BrokerServers.ready()
        let redisConfiguration = RedisConfiguration(host: servers.redis.host, port: servers.redis.port)
        let redis = RedisClient(configuration: redisConfiguration)
        let client = AMQPConnection(
            configuration: amqpConfiguration(servers.rabbit, name: "test-\(name)"), logger: Logger(label: "test.\(name)"))
        try await client.waitUntilConnected(timeout: .seconds(30))
        let configuration = BrokerConfiguration(
            amqp: amqpConfiguration(servers.rabbit, name: "ssh-broker-\(name)"), redis: redisConfiguration,
            masterKeyFile: "/nonexistent/master.key", defaultTTLSeconds: defaultTTLSeconds, maxTTLSeconds: maxTTLSeconds,
            prefetch: 8, queue: unique("paz.ssh-broker.test"), redisProbeInterval: .milliseconds(200),
            authorizeSenders: authorizeSenders)
        let masterKey = try MasterKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255) })
        return BrokerHarness(
            servers: servers, redis: redis, store: Store(redis: redis), client: client, configuration: configuration,
            masterKey: masterKey)
    }

    static func amqpConfiguration(_ server: RabbitMQServer, name: String) -> AMQPConfiguration {
        AMQPConfiguration(
            host: server.host, port: server.port, user: server.user, password: server.password, connectionName: name,
            reconnectMaximumDelay: .seconds(1))
    }

    /// A connection to the shared RabbitMQ as the user of `kind` (``TestServiceUsers``); the caller closes it.
    func connect(as kind: ServiceKind) async throws -> AMQPConnection {
        let users = try await TestServiceUsers.onSharedRabbitMQ()
        var configuration = Self.amqpConfiguration(servers.rabbit, name: "test-\(kind.userName)")
        configuration.user = kind.userName
        configuration.password = users.password(kind)
        let connection = AMQPConnection(configuration: configuration, logger: Logger(label: "test.\(kind.userName)"))
        try await connection.waitUntilConnected(timeout: .seconds(30))
        return connection
    }

    /// A runtime whose logger writes JSON lines (trace level, everything) into ``log``.
    func makeRuntime(_ label: String = "ssh-broker-test") -> ServiceRuntime {
        let log = log
        return ServiceRuntime(
            configuration: ServiceKitConfiguration(serviceName: label, opsPort: 0),
            logger: Logger(label: label) { JSONLogHandler(label: $0, level: .trace, output: log.output) })
    }

    /// Runs one broker instance (its whole service group) while `body` runs, then shuts it down
    /// gracefully. `body` starts once the broker is ready (`/readyz` checks pass).
    func withBroker<T: Sendable>(
        _ configuration: BrokerConfiguration? = nil, _ body: (SSHBroker) async throws -> T
    ) async throws -> T {
        let runtime = makeRuntime()
        let broker = try buildSSHBrokerServices(
            configuration: configuration ?? self.configuration, runtime: runtime, masterKey: masterKey,
            metricsFactory: metrics)
        let group = buildServiceGroup(runtime, services: broker.services)
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            do {
                guard await eventually(timeout: .seconds(30), { await runtime.readiness.evaluate().isReady }) else {
                    throw HarnessError.brokerNotReady
                }
                let result = try await body(broker)
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

    // MARK: Requests

    /// Sends a command to the broker's queue (through ``client``, or `connection`: another sender)
    /// and returns the decoded reply.
    func call(_ payload: CommandPayload, tenant: TenantID, via connection: AMQPConnection? = nil)
        async throws -> (request: CommandEnvelope, reply: ReplyEnvelope)
    {
        let envelope = CommandEnvelope(tenantId: tenant, trace: .newTrace(), payload: payload)
        let delivery = try await callRaw(
            try MessageCodec.encodeBody(envelope), messageID: envelope.messageId.rawValue, via: connection)
        return (envelope, try MessageCodec.decode(ReplyPayload.self, from: delivery.body))
    }

    /// Sends raw bytes as a request (direct reply-to) and returns the raw reply.
    func callRaw(
        _ body: [UInt8], messageID: String? = nil, timeout: Duration = .seconds(15), via connection: AMQPConnection? = nil
    ) async throws -> AMQPDelivery {
        try await (connection ?? client).call(
            exchange: "", routingKey: configuration.queue, body: body,
            properties: AMQPProperties(messageID: messageID, contentType: Routing.contentType, persistent: false),
            timeout: timeout)
    }

    func hostIdentity(tenant: TenantID, machine: MachineRef, principals: [String] = ["web-1", "127.0.0.1"])
        async throws -> HostIdentity
    {
        let reply = try await call(.sshHostIdentity(HostIdentityRequest(machine: machine, principals: principals)), tenant: tenant)
        guard case .sshHostIdentity(let identity) = reply.reply.payload else {
            throw HarnessError.unexpectedReply("\(reply.reply.payload)")
        }
        return identity
    }

    func userCredentials(
        tenant: TenantID, machine: MachineRef, principal: String = "paz", ttlSeconds: Int? = nil,
        keyType: SSHKeyType? = nil
    ) async throws -> UserCredentials {
        let reply = try await call(.sshUserCredentials(userRequest(machine, principal, ttlSeconds, keyType)), tenant: tenant)
        guard case .sshUserCredentials(let credentials) = reply.reply.payload else {
            throw HarnessError.unexpectedReply("\(reply.reply.payload)")
        }
        return credentials
    }

    /// The failure a request gets (throws if it succeeded).
    func failure(_ payload: CommandPayload, tenant: TenantID, via connection: AMQPConnection? = nil) async throws -> OperationError {
        let reply = try await call(payload, tenant: tenant, via: connection)
        guard case .failure(let failure) = reply.reply.payload else {
            throw HarnessError.unexpectedReply("expected a failure, got \(reply.reply.kind.rawValue)")
        }
        return failure
    }

    func userRequest(
        _ machine: MachineRef, _ principal: String = "paz", _ ttlSeconds: Int? = nil, _ keyType: SSHKeyType? = nil
    ) -> UserCredentialsRequest {
        UserCredentialsRequest(machine: machine, principal: principal, ttlSeconds: ttlSeconds, keyType: keyType)
    }

    // MARK: Data

    func newTenant() throws -> TenantID { try TenantID(unique("tnt")) }

    /// Records a machine of `tenant` (through the store, as the gateway does) with an SSH endpoint.
    func seedMachine(tenant: TenantID, ssh: SSHEndpoint? = SSHEndpoint(host: "127.0.0.1", port: 40122, user: "paz"))
        async throws -> MachineRecord
    {
        let clusterId = ClusterID.random()
        let id = MachineID.random()
        let ref = MachineRef(clusterId: clusterId, machineId: id)
        let details = MachineDetails(
            machine: ref, state: .running, observedAt: Date(),
            addresses: [MachineAddress(address: ssh?.host ?? "127.0.0.1", scope: .public)], ssh: ssh)
        // Machine names are unique per tenant: each seeded machine gets its own.
        let record = MachineRecord(
            id: id, name: try ResourceName("web-\(id.rawValue.suffix(8).lowercased())"), clusterId: clusterId, driver: "generic",
            details: details)
        try await store.addMachines([record], tenant: tenant, initialState: .running)
        return record
    }

    /// The tenant's audit stream, oldest first.
    func auditEntries(tenant: TenantID) async throws -> [RedisStreamEntry] {
        try await redis.xrange(StoreKeys.sshAudit(tenant))
    }

    /// The counter's value, 0 when it was never touched.
    func counter(_ label: String, _ dimensions: [(String, String)] = []) -> Int64 {
        (try? metrics.expectCounter(label, dimensions))?.totalValue ?? 0
    }

    func stop() async {
        await client.close()
        await redis.close()
    }
}

/// Runs `ssh-keygen` with `arguments` (output to a scratch file, never a pipe: see HelperCommand)
/// and returns its exit status and output.
func sshKeygen(_ arguments: [String]) throws -> (status: Int32, output: String) {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paz-keygen-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let outputFile = directory.appendingPathComponent("output")
    let process = try ManagedProcess(executable: "ssh-keygen", arguments: arguments, logFile: outputFile)
    let status = process.waitUntilExit()
    return (status, (try? String(contentsOf: outputFile, encoding: .utf8)) ?? "")
}

/// Writes `text` to a new file (mode 0600) in a scratch directory; the caller removes the directory.
func writeScratchFile(_ text: String, name: String, in directory: URL) throws -> URL {
    let url = directory.appendingPathComponent(name)
    guard FileManager.default.createFile(atPath: url.path, contents: Data(text.utf8), attributes: [.posixPermissions: 0o600])
    else { throw CocoaError(.fileWriteUnknown) }
    return url
}

func scratchDirectory() throws -> URL {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("paz-broker-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
}
