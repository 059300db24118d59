import Foundation
import Logging
import PazAMQP
import PazLocalServers
import PazTestSupport
import Synchronization
import Testing

/// A connection to `server` that reconnects quickly (tests restart brokers).
func connect(_ server: RabbitMQServer, name: String) async throws -> AMQPConnection {
    let configuration = AMQPConfiguration(
        host: server.host, port: server.port, user: server.user, password: server.password,
        heartbeat: .seconds(5), connectionName: name,
        reconnectMinimumDelay: .milliseconds(100), reconnectMaximumDelay: .seconds(1),
        confirmTimeout: .seconds(15))
    let connection = AMQPConnection(configuration: configuration, logger: Logger(label: "test.amqp.\(name)"))
    try await connection.waitUntilConnected(timeout: .seconds(30))
    return connection
}

/// A unique name for this test's queues and exchanges.
func unique(_ prefix: String) -> String { "\(prefix)-\(UUID().uuidString.prefix(8))" }

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
func eventually(timeout: Duration, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// Declares `queue` and answers every request on it with `prefix` + its body — the bare protocol:
/// answer on reply-to with the correlation id, then ack. Cancel the task to stop it.
func echoResponder(on connection: AMQPConnection, queue: String, prefix: String) async throws -> Task<Void, any Error> {
    try await connection.declare(AMQPQueue(name: queue, durable: false, autoDelete: true))
    let consumer = try await connection.consume(queue: queue, prefetch: 32)
    return Task {
        for await request in consumer {
            guard let replyTo = request.properties.replyTo else { continue }
            connection.publishUnconfirmed(
                exchange: "", routingKey: replyTo, body: Array(prefix.utf8) + request.body,
                properties: AMQPProperties(correlationID: request.properties.correlationID, persistent: false))
            try await connection.ack(request)
        }
    }
}

/// Records the body of each delivery of `consumer` as text into `record` and acks it; cancel the
/// task (and the consumer) to stop.
func recordBodies(of consumer: AMQPConsumer, on connection: AMQPConnection, into record: Record) -> Task<Void, Never> {
    Task {
        for await delivery in consumer {
            record.append(delivery.text)
            try? await connection.ack(delivery)
        }
    }
}

/// Thread-safe record of what a consumer saw.
final class Record: Sendable {
    private let items = Mutex<[String]>([])
    func append(_ item: String) { items.withLock { $0.append(item) } }
    var all: [String] { items.withLock { $0 } }
    var count: Int { items.withLock { $0.count } }
}

@Suite("AMQP against a real rabbitmq-server")
struct AMQPTests {
    @Test("10,000 persistent confirmed messages are consumed exactly once with manual acks")
    func tenThousandMessagesExactlyOnce() async throws {
        let server = try await TestRabbitMQ.sharedServer()
        let publisher = try await connect(server, name: "bulk-publisher")
        let consumerConnection = try await connect(server, name: "bulk-consumer")
        let queue = unique("bulk")
        try await publisher.declare(AMQPQueue.quorum(name: queue, deliveryLimit: 5))

        let record = Record()
        let consumer = try await consumerConnection.consume(queue: queue, prefetch: 500)
        let consuming = Task {
            for await delivery in consumer {
                record.append(delivery.properties.messageID ?? "missing")
                try await consumerConnection.ack(delivery)
            }
        }

        let total = 10_000
        for batch in stride(from: 0, to: total, by: 500) {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for id in batch..<min(batch + 500, total) {
                    group.addTask {
                        try await publisher.publish(
                            exchange: "", routingKey: queue, body: Array("message \(id)".utf8),
                            properties: AMQPProperties(messageID: "\(id)", contentType: "text/plain"))
                    }
                }
                try await group.waitForAll()
            }
        }

        #expect(await eventually(timeout: .seconds(60)) { record.count >= total })
        try await Task.sleep(for: .milliseconds(500))  // room for duplicates to show up
        await consumer.cancel()
        consuming.cancel()
        let ids = record.all
        #expect(ids.count == total)
        #expect(Set(ids) == Set((0..<total).map(String.init)))
        #expect(try await publisher.queueStatus(queue)?.messageCount == 0)
        try await publisher.deleteQueue(queue)
        await publisher.close()
        await consumerConnection.close()
    }

    @Test("kill -9 of the broker mid-stream: unconfirmed publishes fail, confirmed ones are all consumed")
    func brokerKilledMidStream() async throws {
        let server = try await TestRabbitMQ.startPrivate()
        let publisher = try await connect(server, name: "crash-publisher")
        let consumerConnection = try await connect(server, name: "crash-consumer")
        let queue = unique("crash")
        try await publisher.declare(AMQPQueue.quorum(name: queue, deliveryLimit: 20))
        // A queue that exists from before, as in production: RabbitMQ 3.10 keeps a new quorum queue's
        // Ra registration in DETS, which a kill -9 within minutes of the declaration can lose.
        await server.stopBroker()
        try await TestRabbitMQ.restart(server)
        try await publisher.waitUntilConnected(timeout: .seconds(30))
        try await consumerConnection.waitUntilConnected(timeout: .seconds(30))

        let consumed = Record()
        let consumer = try await consumerConnection.consume(queue: queue, prefetch: 100)
        let consuming = Task {
            for await delivery in consumer {
                consumed.append(delivery.properties.messageID ?? "missing")
                try? await consumerConnection.ack(delivery)  // stale after the crash: refused, redelivered
            }
        }

        let confirmed = Record()
        let failed = Record()
        let total = 4_000
        let publishing = Task {
            for batch in stride(from: 0, to: total, by: 20) {
                await withTaskGroup(of: Void.self) { group in
                    for id in batch..<(batch + 20) {
                        group.addTask {
                            do throws(AMQPError) {
                                try await publisher.publish(
                                    exchange: "", routingKey: queue, body: Array("\(id)".utf8),
                                    properties: AMQPProperties(messageID: "\(id)"))
                                confirmed.append("\(id)")
                            } catch {
                                #expect(error.isRetriable, "unexpected \(error)")
                                failed.append("\(id)")
                            }
                        }
                    }
                }
                if publisher.state != .connected { try? await Task.sleep(for: .milliseconds(20)) }
            }
        }

        #expect(await eventually(timeout: .seconds(60)) { confirmed.count >= 500 })
        await server.kill()
        #expect(await eventually(timeout: .seconds(10)) { publisher.state != .connected })
        try await Task.sleep(for: .milliseconds(500))
        try await TestRabbitMQ.restart(server)
        await publishing.value

        try await publisher.waitUntilConnected(timeout: .seconds(30))
        try await consumerConnection.waitUntilConnected(timeout: .seconds(30))
        #expect(failed.count > 0, "publishes in flight or sent while the broker was down must fail")
        #expect(confirmed.count + failed.count == total)
        let confirmedIDs = Set(confirmed.all)
        let everyConfirmedConsumed = await eventually(timeout: .seconds(60)) {
            confirmedIDs.isSubset(of: Set(consumed.all))
        }
        #expect(everyConfirmedConsumed, "lost \(confirmedIDs.subtracting(consumed.all).count) confirmed messages")
        await consumer.cancel()
        consuming.cancel()
        await publisher.close()
        await consumerConnection.close()
        await server.stop()
    }

    @Test("nack without requeue and the delivery limit dead-letter; a malformed body does not stop the consumer")
    func deadLetteringAndPoisonMessages() async throws {
        let server = try await TestRabbitMQ.sharedServer()
        let connection = try await connect(server, name: "dlx")
        let exchange = unique("dlx")
        let work = unique("work")
        let dead = unique("dead")
        try await connection.declare(AMQPExchange(name: exchange, kind: .direct))
        try await connection.declare(AMQPQueue.quorum(name: dead, deliveryLimit: 5))
        try await connection.bind(AMQPBinding(queue: dead, exchange: exchange, routingKey: "dead"))
        try await connection.declare(
            AMQPQueue.quorum(name: work, deliveryLimit: 2, deadLetterExchange: exchange, deadLetterRoutingKey: "dead"))

        struct Job: Decodable { var n: Int }
        let processed = Record()
        let deliveryCounts = Record()
        let consumer = try await connection.consume(queue: work, prefetch: 10)
        let consuming = Task {
            for await delivery in consumer {
                switch delivery.properties.type {
                case "nack":
                    try await connection.nack(delivery, requeue: false)
                case "requeue":
                    deliveryCounts.append("\(delivery.deliveryCount ?? 0)")
                    try await connection.nack(delivery, requeue: true)
                default:
                    if let job = try? JSONDecoder().decode(Job.self, from: Data(delivery.body)) {
                        processed.append("\(job.n)")
                        try await connection.ack(delivery)
                    } else {
                        try await connection.reject(delivery, requeue: false)
                    }
                }
            }
        }

        func send(_ id: String, type: String?, _ body: String) async throws {
            try await connection.publish(
                exchange: "", routingKey: work, body: Array(body.utf8),
                properties: AMQPProperties(messageID: id, contentType: "application/json", type: type,
                                           headers: ["tenant": .string("t1"), "attempt": .int(1)]))
        }
        try await send("nacked", type: "nack", #"{"n":0}"#)
        try await send("over-limit", type: "requeue", #"{"n":0}"#)
        try await send("malformed", type: nil, "{not json")
        try await send("good", type: nil, #"{"n":42}"#)

        let deadIDs = Record()
        let deadHeaders = Mutex<[String: AMQPHeaderValue]>([:])
        let deadConsumer = try await connection.consume(queue: dead, prefetch: 10)
        let deadConsuming = Task {
            for await delivery in deadConsumer {
                deadIDs.append(delivery.properties.messageID ?? "missing")
                if delivery.properties.messageID == "nacked" { deadHeaders.withLock { $0 = delivery.properties.headers } }
                try await connection.ack(delivery)
            }
        }
        let allDead = await eventually(timeout: .seconds(30)) { deadIDs.count >= 3 }
        #expect(allDead)
        #expect(Set(deadIDs.all) == ["nacked", "over-limit", "malformed"])
        #expect(processed.all == ["42"], "the consumer kept going after the malformed message")
        #expect(deliveryCounts.all.count >= 2, "redelivered up to the limit before dead-lettering")
        #expect(deadHeaders.withLock { $0["tenant"] } == .string("t1"))
        await consumer.cancel()
        await deadConsumer.cancel()
        consuming.cancel()
        deadConsuming.cancel()
        await connection.close()
    }

    @Test("RPC: round trip with a responder; no responder is a timeout, not a hang; no queue is unroutable")
    func rpc() async throws {
        let server = try await TestRabbitMQ.sharedServer()
        let client = try await connect(server, name: "rpc-client")
        let responderConnection = try await connect(server, name: "rpc-responder")
        let queue = unique("rpc")
        let responder = try await echoResponder(on: responderConnection, queue: queue, prefix: "echo:")
        try await Task.sleep(for: .milliseconds(200))

        let reply = try await client.call(routingKey: queue, body: Array("hello".utf8), timeout: .seconds(5))
        #expect(reply.text == "echo:hello")
        #expect(reply.properties.correlationID != nil)
        for index in 0..<50 {
            let answer = try await client.call(routingKey: queue, body: Array("\(index)".utf8), timeout: .seconds(5))
            #expect(answer.text == "echo:\(index)")
        }

        let silent = unique("rpc-silent")
        try await client.declare(AMQPQueue(name: silent, durable: false, autoDelete: false))
        let start = ContinuousClock.now
        await #expect {
            _ = try await client.call(routingKey: silent, body: [1], timeout: .milliseconds(500))
        } throws: { error in
            guard case AMQPError.rpcTimeout = error else { return false }
            return true
        }
        #expect(ContinuousClock.now - start < .seconds(10))  // the 500 ms timeout ended it (nobody answers)

        await #expect {
            _ = try await client.call(routingKey: unique("nobody"), body: [1], timeout: .seconds(5))
        } throws: { error in
            guard case AMQPError.unroutable = error else { return false }
            return true
        }
        try await client.deleteQueue(silent)
        responder.cancel()
        await responderConnection.close()
        await client.close()
    }

    @Test("RPC: a request to a missing exchange fails that call (its channel closes) and the next call works")
    func rpcChannelRecovers() async throws {
        let server = try await TestRabbitMQ.sharedServer()
        let client = try await connect(server, name: "rpc-channel-client")
        let responderConnection = try await connect(server, name: "rpc-channel-responder")
        let queue = unique("rpc-channel")
        let responder = try await echoResponder(on: responderConnection, queue: queue, prefix: "")
        #expect(try await client.call(routingKey: queue, body: Array("one".utf8), timeout: .seconds(5)).text == "one")
        await #expect {
            _ = try await client.call(exchange: unique("missing"), routingKey: queue, body: [1], timeout: .seconds(5))
        } throws: { error in
            guard case AMQPError.channelClosed(_, let code, _) = error else { return false }
            return code == 404
        }
        // The channel (and its reply consumer) opened again; the connection was never lost.
        #expect(try await client.call(routingKey: queue, body: Array("two".utf8), timeout: .seconds(5)).text == "two")
        #expect(client.epoch == 1)
        responder.cancel()
        await responderConnection.close()
        await client.close()
    }

    @Test("a consumer whose queue is deleted declares it again and goes on consuming, on the same connection")
    func consumerRedeclaresDeletedQueue() async throws {
        let server = try await TestRabbitMQ.sharedServer()
        let owner = try await connect(server, name: "redeclare-owner")
        let other = try await connect(server, name: "redeclare-other")
        let queue = unique("redeclare")
        try await owner.declare(AMQPQueue(name: queue, durable: false, autoDelete: false))
        let consumer = try await owner.consume(queue: queue, prefetch: 4)
        let received = Record()
        let consuming = recordBodies(of: consumer, on: owner, into: received)
        try await other.publish(exchange: "", routingKey: queue, body: Array("before".utf8))
        #expect(await eventually(timeout: .seconds(10)) { received.all == ["before"] })

        // As the cluster does with a transient queue whose node went down.
        try await other.deleteQueue(queue)
        let redeclared = await eventually(timeout: .seconds(10)) {
            (try? await other.queueStatus(queue))??.consumerCount == 1
        }
        #expect(redeclared, "the consumer did not declare its queue again")
        try await other.publish(exchange: "", routingKey: queue, body: Array("after".utf8))
        #expect(await eventually(timeout: .seconds(10)) { received.all == ["before", "after"] })
        #expect(owner.epoch == 1, "the connection was replaced instead")

        consuming.cancel()
        await consumer.cancel()
        _ = try? await other.deleteQueue(queue)
        await other.close()
        await owner.close()
    }

    @Test("after a broker restart: topology deleted out of band is re-declared, stale delivery tags are refused")
    func topologyRedeclaredAfterRestart() async throws {
        let server = try await TestRabbitMQ.startPrivate()
        let owner = try await connect(server, name: "topology-owner")
        let other = try await connect(server, name: "topology-other")
        let exchange = unique("topo-x")
        let deleted = unique("topo-deleted")
        let work = unique("topo-work")
        try await owner.declare(AMQPExchange(name: exchange, kind: .topic))
        try await owner.declare(AMQPQueue.quorum(name: deleted, deliveryLimit: 5))
        try await owner.bind(AMQPBinding(queue: deleted, exchange: exchange, routingKey: "machine.*"))
        try await owner.declare(AMQPQueue.quorum(name: work, deliveryLimit: 5))

        try await owner.publish(exchange: "", routingKey: work, body: Array("m1".utf8))
        let consumer = try await owner.consume(queue: work, prefetch: 1)
        let first = try #require(await consumer.next(within: .seconds(30)))
        #expect(first.text == "m1")
        #expect(!first.redelivered)

        try await other.deleteQueue(deleted)
        #expect(try await other.queueStatus(deleted) == nil)

        await server.stopBroker()
        try await TestRabbitMQ.restart(server)
        try await owner.waitUntilConnected(timeout: .seconds(30))
        try await other.waitUntilConnected(timeout: .seconds(30))
        #expect(try await other.queueStatus(deleted) != nil, "the owner re-declared the queue")

        // The old delivery's tag belongs to the dead connection: acking it is refused, not misapplied.
        await #expect {
            try await owner.ack(first)
        } throws: { error in
            guard case AMQPError.staleDelivery = error else { return false }
            return true
        }
        // The consumer resumed on the new connection and gets the unacked message again.
        let again = try #require(await consumer.next(within: .seconds(60)))
        #expect(again.text == "m1")
        #expect(again.redelivered)
        try await owner.ack(again)
        // The binding came back with the queue.
        try await owner.publish(exchange: exchange, routingKey: "machine.started", body: Array("m2".utf8))
        #expect(try await other.queueStatus(deleted)?.messageCount == 1)
        await owner.close()
        await other.close()
        await server.stop()
    }

    @Test("a new broker on the same data directory is the same node and keeps durable queues and messages")
    func dataDirectorySurvivesAStop() async throws {
        let directory = try ScratchDirectory.make(prefix: "paz-rabbit-keep")
        defer { try? FileManager.default.removeItem(at: directory) }
        let queue = unique("kept")
        let first = try await TestRabbitMQ.startPrivate(dataDirectory: directory)
        let writer = try await connect(first, name: "keep-writer")
        try await writer.declare(AMQPQueue.quorum(name: queue, deliveryLimit: 5))
        try await writer.publish(exchange: "", routingKey: queue, body: Array("kept".utf8))
        await writer.close()
        await first.stop()

        let second = try await TestRabbitMQ.startPrivate(dataDirectory: directory)
        #expect(second.nodeName == first.nodeName)
        let reader = try await connect(second, name: "keep-reader")
        #expect(try await reader.queueStatus(queue)?.messageCount == 1)
        await reader.close()
        await second.stop()
    }

    @Test("a wrong password is refused with an actionable error (access refused) and never logged")
    func wrongPasswordRefusedAndNotLogged() async throws {
        let server = try await TestRabbitMQ.sharedServer()
        let lines = Record()
        let secret = "s3cret-\(UUID().uuidString)"
        let logger = Logger(label: "test.amqp.secret") { _ in CapturingLogHandler(lines: lines) }
        let connection = AMQPConnection(
            configuration: AMQPConfiguration(
                host: server.host, port: server.port, user: server.user, password: secret,
                connectionName: "wrong-password", reconnectMinimumDelay: .milliseconds(50)),
            logger: logger)
        await #expect {
            try await connection.waitUntilConnected(timeout: .seconds(3))
        } throws: { error in
            guard case AMQPError.notConnected(let reason) = error else { return false }
            return reason.contains("refused user guest")
        }
        await #expect {
            try await connection.publish(exchange: "", routingKey: "nowhere", body: [1])
        } throws: { error in
            (error as? AMQPError)?.isRetriable == true
        }
        await connection.close()
        #expect(!lines.all.isEmpty)
        #expect(lines.all.allSatisfy { !$0.contains(secret) })
        #expect(!"\(connection.configuration)".contains(secret))
    }
}

/// Records every log line with its metadata, to check what reaches the logs.
struct CapturingLogHandler: LogHandler {
    let lines: Record
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        lines.append("\(event.level) \(event.message) \(all)")
    }
}
