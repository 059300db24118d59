import Foundation
import Logging
import PazAMQP
import PazControlPlane
import PazLocalServers
import PazSchemas
import PazTestSupport
import Testing

/// True when `error` is RabbitMQ's `403 ACCESS_REFUSED` (a channel error: on a synchronous call it
/// is the call's error, on a publish it fails the pending confirm when the channel closes).
func isAccessRefused(_ error: any Error) -> Bool {
    switch error as? AMQPError {
    case .channelClosed(_, let code, _): code == 403
    case .connectionLost(_, let reason): reason.contains("403") && reason.contains("ACCESS_REFUSED")
    default: false
    }
}

/// The RabbitMQ permissions of each service kind, on a node of this suite's own (users are
/// node-wide, and the suite deletes `guest`).
@Suite("RabbitMQ permissions per service kind")
struct AMQPPermissionTests {
    static func connect(_ server: RabbitMQServer, _ kind: ServiceKind, _ users: TestServiceUsers) async throws -> AMQPConnection {
        let connection = AMQPConnection(
            configuration: AMQPConfiguration(
                host: server.host, port: server.port, user: kind.userName, password: users.password(kind),
                connectionName: "test-\(kind.userName)-\(UUID().uuidString.prefix(6))", reconnectMaximumDelay: .seconds(1)),
            logger: Logger(label: "test.privilege"))
        try await connection.waitUntilConnected(timeout: .seconds(30))
        return connection
    }

    /// What each service declares at start (the same calls as the services make).
    static func declareTopology(of kind: ServiceKind, on connection: AMQPConnection) async throws {
        try await ControlPlaneTopology.declareShared(on: connection)
        switch kind {
        case .gateway:
            try await ControlPlaneTopology.declareQueue(
                Routing.gatewayEventsQueue, boundTo: Routing.eventsExchange,
                routingKey: Routing.eventRoutingKey(.eventOperation), on: connection)
        case .statusCollector:
            try await ControlPlaneTopology.declareQueue(
                Routing.collectorEventsQueue, boundTo: Routing.eventsExchange,
                routingKey: Routing.eventRoutingKey(.eventMachineState), on: connection)
        case .sshBroker:
            try await connection.declare(
                .quorum(name: Routing.sshBrokerQueue, deliveryLimit: Routing.deliveryLimit,
                        deadLetterExchange: Routing.deadLetterExchange))
        case .driver(let name):
            try await ControlPlaneTopology.declareQueue(
                Routing.driverCommandQueue(driver: name), boundTo: Routing.commandsExchange,
                routingKey: Routing.commandRoutingKey(driver: name), on: connection)
        }
    }

    @Test("each service declares its own topology; a driver cannot send commands, nor read other services' queues; user-id names the sender")
    func permissionsAndSenderIdentity() async throws {
        let server = try await TestRabbitMQ.startPrivate()
        let users = TestServiceUsers()
        try await server.putUsers(users.rabbitUsers)
        try await server.deleteUser("guest")
        var connections: [AMQPConnection] = []
        do {
            // guest is gone.
            let guest = AMQPConnection(
                configuration: AMQPConfiguration(
                    host: server.host, port: server.port, user: "guest", password: "guest", connectionName: "test-guest"),
                logger: Logger(label: "test.privilege"))
            await #expect(throws: AMQPError.self) { try await guest.waitUntilConnected(timeout: .seconds(3)) }
            await guest.close()

            var byKind: [ServiceKind: AMQPConnection] = [:]
            for kind in TestServiceUsers.kinds {
                let connection = try await Self.connect(server, kind, users)
                connections.append(connection)
                try await Self.declareTopology(of: kind, on: connection)
                byKind[kind] = connection
            }
            let gateway = byKind[.gateway]!
            let generic = byKind[.driver("generic")]!

            // Allowed: the gateway sends a command; the driver sees the gateway as its sender.
            let commands = try await generic.consume(queue: Routing.driverCommandQueue(driver: "generic"), prefetch: 4)
            try await gateway.publish(
                exchange: Routing.commandsExchange, routingKey: "generic", body: Array("command".utf8),
                properties: AMQPProperties(messageID: "c1"))
            let command = try #require(await commands.next(within: .seconds(30)))
            #expect(command.properties.userID == ServiceKind.gateway.userName)
            try await generic.ack(command)
            await commands.cancel()

            // Allowed: the driver publishes an event; a forged user-id is replaced by its own.
            let events = try await gateway.consume(queue: Routing.gatewayEventsQueue, prefetch: 4)
            try await generic.publish(
                exchange: Routing.eventsExchange, routingKey: Routing.eventRoutingKey(.eventOperation),
                body: Array("event".utf8), properties: AMQPProperties(messageID: "e1", userID: ServiceKind.gateway.userName))
            var eventIterator = events.makeAsyncIterator()
            let event = try #require(await eventIterator.next())
            #expect(event.properties.userID == "paz-driver-generic")
            try await gateway.ack(event)
            await events.cancel()

            // Refused: a driver publishing a command (to the command exchange, for itself or another driver).
            for routingKey in ["qemu", "generic"] {
                let driver = try await Self.connect(server, .driver("generic"), users)
                connections.append(driver)
                await #expect(performing: {
                    try await driver.publish(
                        exchange: Routing.commandsExchange, routingKey: routingKey, body: Array("forged".utf8))
                }, throws: { isAccessRefused($0) })
            }
            // Refused: a driver consuming another driver's, the gateway's or the broker's queue.
            for queue in [Routing.driverCommandQueue(driver: "qemu"), Routing.gatewayEventsQueue, Routing.sshBrokerQueue] {
                let driver = try await Self.connect(server, .driver("generic"), users)
                connections.append(driver)
                await #expect(performing: { _ = try await driver.consume(queue: queue, prefetch: 1) }, throws: { isAccessRefused($0) })
            }
            // Refused: the broker and the collector cannot consume a driver's commands either.
            for kind in [ServiceKind.sshBroker, .statusCollector] {
                let other = try await Self.connect(server, kind, users)
                connections.append(other)
                await #expect(performing: {
                    _ = try await other.consume(queue: Routing.driverCommandQueue(driver: "generic"), prefetch: 1)
                }, throws: { isAccessRefused($0) })
            }
            // Nothing forged reached the qemu driver's queue.
            #expect(try await byKind[.driver("qemu")]!.queueStatus(Routing.driverCommandQueue(driver: "qemu"))?.messageCount == 0)
        } catch {
            for connection in connections { await connection.close() }
            await server.stop()
            throw error
        }
        for connection in connections { await connection.close() }
        await server.stop()
    }
}
