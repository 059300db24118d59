import Foundation
import Logging
import PazAMQP
import PazLocalServers
import PazTestSupport
import Testing

@Suite("AMQP: a connection to several nodes fails over")
struct AMQPNodeFailoverTests {
    private static func configuration(_ nodes: [Int], name: String) -> AMQPConfiguration {
        var configuration = AMQPConfiguration(
            host: "127.0.0.1", port: nodes[0], user: "guest", password: "guest", heartbeat: .seconds(5), connectionName: name,
            reconnectMinimumDelay: .milliseconds(100), reconnectMaximumDelay: .seconds(1), connectTimeout: .seconds(2))
        configuration.otherNodes = nodes.dropFirst().map { AMQPNode(host: "127.0.0.1", port: $0) }
        return configuration
    }

    @Test("the first node is down: the connection is made to the next one")
    func firstNodeDown() async throws {
        let shared = try await TestRabbitMQ.sharedServer()
        let nobody = try LoopbackNetwork.freePort()
        let connection = AMQPConnection(
            configuration: Self.configuration([nobody, shared.port], name: "failover-first-down"),
            logger: Logger(label: "test.amqp.failover"))
        try await connection.waitUntilConnected(timeout: .seconds(20))
        let queue = unique("failover-first")
        try await connection.declare(AMQPQueue(name: queue, durable: false, autoDelete: true))
        try await connection.publish(exchange: "", routingKey: queue, body: Array("hello".utf8))
        await connection.close()
    }

    @Test("the node in use is stopped: the connection moves to the other node, re-declares and consumes there")
    func nodeInUseStops() async throws {
        let first = try await TestRabbitMQ.startPrivate()
        let shared = try await TestRabbitMQ.sharedServer()
        let connection = AMQPConnection(
            configuration: Self.configuration([first.port, shared.port], name: "failover-node-stops"),
            logger: Logger(label: "test.amqp.failover"))
        try await connection.waitUntilConnected(timeout: .seconds(20))
        let queue = unique("failover-moves")
        try await connection.declare(AMQPQueue(name: queue, durable: false, autoDelete: false))
        let consumed = Record()
        let consumer = try await connection.consume(queue: queue, prefetch: 10)
        let consuming = recordBodies(of: consumer, on: connection, into: consumed)
        try await connection.publish(exchange: "", routingKey: queue, body: Array("on-first".utf8))
        #expect(await eventually(timeout: .seconds(10)) { consumed.all == ["on-first"] })

        await first.kill()
        #expect(await eventually(timeout: .seconds(10)) { connection.state != .connected })
        try await connection.waitUntilConnected(timeout: .seconds(20))
        // On the other node: the queue was declared again and the consumer started again.
        try await connection.publish(exchange: "", routingKey: queue, body: Array("on-second".utf8))
        #expect(await eventually(timeout: .seconds(10)) { consumed.all == ["on-first", "on-second"] })

        await consumer.cancel()
        consuming.cancel()
        _ = try? await connection.deleteQueue(queue)
        await connection.close()
        await first.stop()
    }
}
