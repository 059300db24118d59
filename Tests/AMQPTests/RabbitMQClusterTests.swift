import Foundation
import Logging
import PazAMQP
import PazLocalServers
import PazTestSupport
import Testing

@Suite("A 3-node RabbitMQ cluster on loopback: quorum queues on every node, a node killed")
struct RabbitMQClusterTests {
    @Test("a quorum queue has a member on each node; kill -9 of the node in use loses no confirmed message; a transient queue of that node is declared again by its consumer on another node; the node rejoins")
    func killOneNode() async throws {
        let cluster = try await RabbitMQCluster.start()
        for process in cluster.processes { FixtureCleanup.stopAtExit(process) }
        let names = cluster.nodes.map(\.nodeName).sorted()
        #expect(Set(names).count == 3)
        #expect(try await cluster.nodes[2].runningNodes() == names)

        var configuration = AMQPConfiguration(
            host: "127.0.0.1", port: cluster.nodes[0].port, user: "guest", password: "guest", heartbeat: .seconds(5),
            connectionName: "cluster-test", reconnectMinimumDelay: .milliseconds(100), reconnectMaximumDelay: .seconds(1),
            connectTimeout: .seconds(2))
        configuration.otherNodes = cluster.nodes.dropFirst().map { AMQPNode(host: "127.0.0.1", port: $0.port) }
        let connection = AMQPConnection(configuration: configuration, logger: Logger(label: "test.amqp.cluster"))
        try await connection.waitUntilConnected(timeout: .seconds(20))
        let queue = unique("cluster-quorum")
        try await connection.declare(.quorum(name: queue, deliveryLimit: 5))
        #expect(try await cluster.nodes[1].quorumMembers(queue) == names)

        // A transient queue (as a driver's query queue) lives on the node that declared it: the
        // first node. Its consumer is connected to the second.
        let transient = unique("cluster-transient")
        try await connection.declare(AMQPQueue(name: transient, durable: false, autoDelete: false))
        var responderConfiguration = configuration
        responderConfiguration.host = "127.0.0.1"
        responderConfiguration.port = cluster.nodes[1].port
        responderConfiguration.otherNodes = [AMQPNode(host: "127.0.0.1", port: cluster.nodes[2].port)]
        responderConfiguration.connectionName = "cluster-test-consumer"
        let responder = AMQPConnection(configuration: responderConfiguration, logger: Logger(label: "test.amqp.cluster.consumer"))
        try await responder.waitUntilConnected(timeout: .seconds(20))
        try await responder.declare(AMQPQueue(name: transient, durable: false, autoDelete: false))
        let transientConsumer = try await responder.consume(queue: transient, prefetch: 10)
        let transientReceived = Record()
        let transientConsuming = recordBodies(of: transientConsumer, on: responder, into: transientReceived)

        // Every publish is confirmed by a majority of the members before it returns.
        for index in 0..<100 {
            try await connection.publish(exchange: "", routingKey: queue, body: Array("m\(index)".utf8))
        }
        await cluster.nodes[0].kill()
        #expect(try await cluster.nodes[1].runningNodes() == names.filter { $0 != cluster.nodes[0].nodeName })

        // The connection moves to another node, where the queue (two members of three) still has all.
        let consumed = Record()
        try await connection.waitUntilConnected(timeout: .seconds(30))
        let consumer = try await connection.consume(queue: queue, prefetch: 50)
        let consuming = recordBodies(of: consumer, on: connection, into: consumed)
        #expect(await eventually(timeout: .seconds(30)) { consumed.all.count >= 100 })
        #expect(Set(consumed.all) == Set((0..<100).map { "m\($0)" }))
        #expect(consumed.all.count == 100)

        // The cluster deleted the transient queue with its node; its consumer declared it again on
        // its own node and consumes it there (its connection never moved).
        var sent = 0
        let answered = await eventually(timeout: .seconds(30)) {
            sent += 1
            try? await connection.publish(exchange: "", routingKey: transient, body: Array("after-\(sent)".utf8))
            return !transientReceived.all.isEmpty
        }
        #expect(answered, "no message reached the transient queue's consumer after its node died")
        #expect(responder.epoch == 1)
        transientConsuming.cancel()
        await transientConsumer.cancel()
        _ = try? await responder.deleteQueue(transient)
        await responder.close()

        // Started again on its data, the killed node rejoins the cluster.
        try await cluster.nodes[0].restart()
        #expect(await eventually(timeout: .seconds(60)) { (try? await cluster.nodes[1].runningNodes()) == names })

        await consumer.cancel()
        consuming.cancel()
        _ = try? await connection.deleteQueue(queue)
        await connection.close()
        await cluster.stop()
    }
}
