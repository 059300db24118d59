import Foundation
import Logging
import PazAMQP
import PazDriverKit
import PazLocalServers
import PazSchemas
import PazTestSupport
import Testing

/// `driver.authorizeSenders`: a driver runs commands only from the gateway (queries also from the
/// status collector), by the AMQP `user-id` RabbitMQ verified. RabbitMQ's permissions cannot stop a
/// driver from publishing into another driver's queue through the default exchange; this does.
@Suite(.timeLimit(.minutes(2))) struct SenderAuthorizationTests {
    func connect(as kind: ServiceKind) async throws -> AMQPConnection {
        let users = try await TestServiceUsers.onSharedRabbitMQ()
        let rabbit = try await Servers.ready().rabbit
        let connection = AMQPConnection(
            configuration: AMQPConfiguration(
                host: rabbit.host, port: rabbit.port, user: kind.userName, password: users.password(kind),
                connectionName: "driverkit-\(kind.userName)"),
            logger: Logger(label: "test.driverkit.sender"))
        try await connection.waitUntilConnected()
        return connection
    }

    @Test func commandsFromAnotherDriverOrAnUnknownUserAreDeadLetteredNotRun() async throws {
        let harness = try await Harness.start(authorizeSenders: true)
        let gateway = try await connect(as: .gateway)
        let otherDriver = try await connect(as: .driver("generic"))
        let marker = "sender-\(UUID().uuidString)"

        // Not run: a create from another driver (through the default exchange, which its RabbitMQ
        // permissions allow) and from guest (a user of no service kind).
        let forged = harness.command(.machineCreate(sampleCreate(driver: harness.driver.name)))
        let body = try MessageCodec.encodeBody(forged)
        var tagged = try JSONSerialization.jsonObject(with: Data(body)) as! [String: Any]
        tagged["marker"] = marker
        let taggedBody = Array(try JSONSerialization.data(withJSONObject: tagged))
        try await otherDriver.publish(exchange: "", routingKey: harness.queueName, body: taggedBody)
        try await harness.sendRaw(taggedBody)
        // Run: the same from the gateway.
        try await gateway.publish(
            exchange: Routing.commandsExchange, routingKey: harness.driver.name.rawValue,
            body: try MessageCodec.encodeBody(harness.command(.machineCreate(sampleCreate(driver: harness.driver.name)))))
        let events = try await harness.events { count($0, phase: .succeeded) >= 1 }
        #expect(count(events, phase: .succeeded) == 1)

        var refused: [String] = []
        for delivery in try await harness.deadLettered(marker: marker, count: 2) {
            #expect(delivery.properties.headers[Routing.deadLetterReasonHeader] == .string("unauthorized-sender"))
            if case .string(let detail) = delivery.properties.headers[Routing.deadLetterDetailHeader] { refused.append(detail) }
        }
        try await harness.stop()
        await gateway.close()
        await otherDriver.close()
        #expect(harness.driver.count("create") == 1)
        #expect(refused.contains { $0.contains("RabbitMQ user 'paz-driver-generic'") && $0.contains("only paz-gateway") })
        #expect(refused.contains { $0.contains("RabbitMQ user 'guest'") })
    }
}
