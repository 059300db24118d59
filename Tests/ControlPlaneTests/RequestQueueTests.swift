import Foundation
import PazAMQP
import PazControlPlane
import PazSchemas
import Testing

/// Request queues (a driver's queries) are transient classic queues, which their consumers declare
/// again when the node holding them goes down (AMQPTests, RabbitMQClusterTests); the quorum one of
/// the versions before is replaced once.
@Suite("Request queues: transient classic, replacing a quorum one of an older version")
struct RequestQueueTests {
    @Test("a quorum request queue of an older version is replaced by the transient one; requests with their own expiration pass, expired ones are dropped")
    func replacesQuorum() async throws {
        let connection = try await MessagingTests.connect("request-queue")
        let name = "test.queries.\(UUID().uuidString.prefix(8).lowercased())"
        let key = "test.queries.\(UUID().uuidString.prefix(8).lowercased())"
        // What versions between the cluster topology and the transient request queues declared.
        var quorum = AMQPQueue.quorum(name: name, deliveryLimit: Routing.deliveryLimit)
        quorum.messageTTLMilliseconds = 60_000
        quorum.otherArguments = ["x-max-length": .int(10_000), "x-overflow": .string("reject-publish")]
        try await connection.declare(quorum)

        try await ControlPlaneTopology.declareRequestQueue(name, boundTo: Routing.commandsExchange, routingKey: key, on: connection)
        // Now a transient classic queue: declaring the quorum one is refused, declaring it again is not.
        await #expect(throws: AMQPError.self) { try await connection.declare(quorum) }
        try await ControlPlaneTopology.declareRequestQueue(name, boundTo: Routing.commandsExchange, routingKey: key, on: connection)

        try await connection.publish(
            exchange: Routing.commandsExchange, routingKey: key, body: Array("expired".utf8),
            properties: AMQPProperties(expiration: "1"))
        try await connection.publish(
            exchange: Routing.commandsExchange, routingKey: key, body: Array("live".utf8),
            properties: AMQPProperties(expiration: "30000"))
        try await Task.sleep(for: .milliseconds(200))
        let consumer = try await connection.consume(queue: name, prefetch: 10)
        var received: [String] = []
        let timer = Task { try await Task.sleep(for: .seconds(3)); await consumer.cancel() }
        for await delivery in consumer {
            received.append(delivery.text)
            try await connection.ack(delivery)
        }
        timer.cancel()
        #expect(received == ["live"])
        _ = try await connection.deleteQueue(name)
        await connection.close()
    }
}
