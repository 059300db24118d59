import Foundation
import Logging
import PazAMQP
import PazLocalServers
import PazRedis
import PazSchemas
import PazSecrets
import PazStore
import PazTestSupport
import Testing

/// The `paz-driver-generic` executable end to end: its registry entry, then create / stop / start
/// commands through RabbitMQ against the shared sshd, with the SSH key sealed in Redis.
@Suite(.timeLimit(.minutes(2))) struct GenericServiceTests {
    @Test func executableServesCommandsFromTheQueue() async throws {
        let servers = try await Servers.ready()
        let (rabbit, redisServer, sshd) = (servers.rabbit, servers.redis, servers.sshd)
        let directory = try ScratchDirectory.make(prefix: "paz-generic-service")
        defer { try? FileManager.default.removeItem(at: directory) }
        let binary = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            .deletingLastPathComponent().appendingPathComponent("paz-driver-generic").path
        try #require(FileManager.default.isExecutableFile(atPath: binary), "build it first: swift build --product paz-driver-generic")

        let keyFile = directory.appendingPathComponent("master.key")
        let masterKey = try MasterKey.create(at: keyFile)
        let store = Store(redis: RedisClient(configuration: RedisConfiguration(host: redisServer.host, port: redisServer.port)),
                          secretBox: SecretBox(masterKey: masterKey))
        let suffix = ULID.make().lowercased()
        let tenant = try TenantID("tnt_\(suffix)")
        let machine = MachineRef(clusterId: .random(), machineId: .random())
        try await store.putSecrets(["ssh-key": sshd.userKey.privateKey], tenant: tenant, machine: machine.machineId)

        let amqp = AMQPConfiguration(host: rabbit.host, port: rabbit.port, user: rabbit.user, password: rabbit.password,
                                     connectionName: "generic-service-test")
        let connection = AMQPConnection(configuration: amqp, logger: Logger(label: "test.generic-service"))
        defer { Task { await connection.close() } }
        try await connection.waitUntilConnected()
        let events = "test.generic-events.\(suffix)"
        try await connection.declare(AMQPExchange(name: Routing.eventsExchange, kind: .topic))
        try await connection.declare(AMQPQueue(name: events, durable: false, autoDelete: true))
        try await connection.bind(AMQPBinding(queue: events, exchange: Routing.eventsExchange, routingKey: "event.#"))

        let instance = "generic-test-\(suffix)"
        let child = try ManagedProcess(
            executable: binary, arguments: [],
            environment: [
                "AMQP_URL": "amqp://\(rabbit.user):\(rabbit.password)@\(rabbit.host):\(rabbit.port)/",
                "DRIVER_AUTHORIZE_SENDERS": "false",  // the test sends commands as guest, the driver's own user
                "REDIS_URL": "redis://\(redisServer.host):\(redisServer.port)/0",
                "PAZ_MASTER_KEY_FILE": keyFile.path, "OPS_PORT": "0", "LOG_FORMAT": "text", "LOG_LEVEL": "debug",
                "DRIVER_INSTANCE_ID": instance,
                // The test sshd is on 127.0.0.2: the local stack's policy (loopback, never 127.0.0.1).
                "GENERIC_ADDRESS_ALLOW": "127.0.0.0/8", "GENERIC_ADDRESS_DENY": "127.0.0.1/32",
            ],
            logFile: directory.appendingPathComponent("driver.log"))
        FixtureCleanup.stopAtExit(child)
        defer { Task { await child.kill() } }

        // Announced in the registry (heartbeat) once it is up.
        var announced = false
        for _ in 0..<300 where !announced {
            announced = try await store.liveDrivers().contains { $0.instanceId == instance && $0.name == "generic" }
            if !announced { try await Task.sleep(for: .milliseconds(50)) }
        }
        try #require(announced, "no registry entry: \(child.logTail())")

        let marker = "/tmp/paz-generic-service-\(suffix).stopped"
        defer { try? FileManager.default.removeItem(atPath: marker) }
        let create = MachineCreate(
            driver: "generic", clusterId: machine.clusterId, clusterName: "existing", machineId: machine.machineId,
            machineName: "host-1",
            options: [
                "ip-address": .string(sshd.server.host), "ssh-port": .number(Double(sshd.server.port)),
                "ssh-user": .string(sshd.server.user), "ssh-host-key": .string(sshd.server.hostPublicKeys[0]),
                "stop-command": .string("touch \(marker)"), "install-ssh-trust": .bool(false),
            ])
        // Commands run concurrently (prefetch 8): the stop and start are sent once the create finished.
        let consumer = try await connection.consume(queue: events, prefetch: 50)
        let timer = Task { try await Task.sleep(for: .seconds(30)); await consumer.cancel() }
        func send(_ payload: CommandPayload) async throws {
            let command = CommandEnvelope(tenantId: tenant, operationId: .random(), trace: TraceContext.newTrace(), payload: payload)
            try await connection.publish(exchange: Routing.commandsExchange, routingKey: "generic",
                                         body: try MessageCodec.encodeBody(command))
        }
        try await send(.machineCreate(create))
        var finished: [String: OperationProgress] = [:]
        for await delivery in consumer {
            try await connection.ack(delivery)
            // Other suites share the broker and publish undecodable events on purpose.
            guard case .event(let event) = try? MessageCodec.decode(Data(delivery.body)), event.tenantId == tenant,
                  case .operation(let progress) = event.payload, progress.phase.isFinished else { continue }
            finished[progress.command] = progress
            if progress.command == "machine.create" {
                try await send(.machineStop(MachineAction(machine: machine)))
                try await send(.machineStart(MachineAction(machine: machine)))
            }
            if finished.count == 3 { break }
        }
        timer.cancel()
        await consumer.cancel()

        #expect(finished["machine.create"]?.phase == .succeeded, "\(child.logTail())")
        #expect(finished["machine.create"]?.machines.first?.details?.ssh?.port == sshd.server.port)
        #expect(finished["machine.stop"]?.phase == .succeeded)
        #expect(FileManager.default.fileExists(atPath: marker))
        #expect(finished["machine.start"]?.phase == .failed)
        #expect(finished["machine.start"]?.error?.code == .unsupported)

        // SIGTERM: graceful shutdown withdraws the registry entry.
        await child.stop()
        let after = try await store.liveDrivers()
        #expect(!after.contains { $0.instanceId == instance })
        #expect(!child.logTail(lines: 200).contains(sshd.userKey.privateKey.split(separator: "\n")[1]))
    }
}
