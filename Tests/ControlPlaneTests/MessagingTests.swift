import Foundation
import Logging
import PazAMQP
import PazControlPlane
import PazLocalServers
import PazSchemas
import PazTestSupport
import Synchronization
import Testing

/// The messaging kit against the real (shared) RabbitMQ.
@Suite("Messaging kit against real RabbitMQ")
struct MessagingTests {
    /// An open connection to the shared broker with the control plane's topology declared.
    static func connect(_ name: String) async throws -> AMQPConnection {
        let server = try await TestRabbitMQ.sharedServer()
        let connection = AMQPConnection(
            configuration: AMQPConfiguration(
                host: server.host, port: server.port, user: server.user, password: server.password,
                connectionName: "test-\(name)"),
            logger: Logger(label: "test.messaging.\(name)"))
        try await connection.waitUntilConnected()
        try await ControlPlaneTopology.declareShared(on: connection)
        return connection
    }

    /// A queue of the test's own: quorum (delivery counts), dead-lettering like every service queue.
    static func serviceQueue(_ prefix: String, on connection: AMQPConnection) async throws -> String {
        let name = "test.\(prefix).\(UUID().uuidString.prefix(8).lowercased())"
        try await connection.declare(
            .quorum(name: name, deliveryLimit: Routing.deliveryLimit, deadLetterExchange: Routing.deadLetterExchange))
        return name
    }

    static func command(marker: String) -> CommandEnvelope {
        CommandEnvelope(
            tenantId: try! TenantID("tnt_\(marker)"), operationId: .random(), trace: .newTrace(),
            payload: .catalogLocations(CatalogLocationsQuery()))
    }

    /// Records each attempt a handler saw.
    final class Attempts: Sendable {
        struct Seen: Sendable { let attempt: Int; let at: ContinuousClock.Instant; let lastError: String?; let sender: String? }
        private let seen = Mutex<[Seen]>([])
        func add(_ message: Inbound<CommandPayload>) {
            seen.withLock {
                $0.append(Seen(attempt: message.attempt, at: .now, lastError: message.lastError, sender: message.sender))
            }
        }
        var all: [Seen] { seen.withLock { $0 } }
    }

    @Test("A failing message comes back after each delay and, out of attempts, is dead-lettered with its last error")
    func retriesThenDeadLetter() async throws {
        let connection = try await Self.connect("retry")
        let queue = try await Self.serviceQueue("retry", on: connection)
        let marker = "tnt_retry\(UUID().uuidString.prefix(6).lowercased())"
        let attempts = Attempts()
        let policy = RetryPolicy(maxAttempts: 3, delays: [RetryTier(seconds: 1), RetryTier(seconds: 2)], maxDeferrals: 0)
        let consumer = MessageConsumer(
            CommandPayload.self, amqp: connection, ready: { true },
            settings: ConsumerSettings(queue: queue, prefetch: 4, concurrent: true, retry: policy),
            logger: Logger(label: "test.retry")
        ) { message in
            attempts.add(message)
            return .retry(reason: "failure \(message.attempt)")
        }
        let deadLetters = try await DeadLetterDrain.open(on: connection)
        let consuming = Task { await consumer.run() }
        defer { consuming.cancel() }
        let command = CommandEnvelope(
            tenantId: try TenantID(marker), operationId: .random(), trace: .newTrace(),
            payload: .catalogLocations(CatalogLocationsQuery()))
        try await ConfirmedPublisher(amqp: connection).publish(
            try OutgoingMessage(command, exchange: "", routingKey: queue, mandatory: true))

        let dead = try await deadLetters.take(marker: marker, count: 1, timeout: .seconds(30))
        let seen = attempts.all
        #expect(seen.map(\.attempt) == [1, 2, 3])
        #expect(seen.map(\.lastError) == [nil, "failure 1", "failure 2"])
        #expect(Set(seen.map(\.sender)) == [connection.configuration.user])
        if seen.count == 3 {
            #expect(seen[1].at - seen[0].at >= .milliseconds(900))
            #expect(seen[2].at - seen[1].at >= .milliseconds(1900))
        }
        #expect(dead.count == 1)
        #expect(dead.first?.stringHeader(Routing.deadLetterReasonHeader) == "retries-exhausted")
        #expect(dead.first?.stringHeader(Routing.deadLetterDetailHeader)?.contains("failure 3") == true)
        #expect(try await connection.queueStatus(queue)?.messageCount == 0)
        await deadLetters.close()
        _ = try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test("A deferred message spends no attempt; the next failure is still the second attempt")
    func deferralsSpendNoAttempt() async throws {
        let connection = try await Self.connect("defer")
        let queue = try await Self.serviceQueue("defer", on: connection)
        let attempts = Attempts()
        let consumer = MessageConsumer(
            CommandPayload.self, amqp: connection, ready: { true },
            settings: ConsumerSettings(queue: queue, prefetch: 4, concurrent: true, retry: .commands),
            logger: Logger(label: "test.defer")
        ) { message in
            attempts.add(message)
            switch attempts.all.count {
            case 1: return .retry(reason: "first")
            case 2, 3: return .deferred(reason: "busy")
            default: return .done
            }
        }
        let consuming = Task { await consumer.run() }
        defer { consuming.cancel() }
        try await ConfirmedPublisher(amqp: connection).publish(
            try OutgoingMessage(Self.command(marker: "defer"), exchange: "", routingKey: queue, mandatory: true))
        let deadline = ContinuousClock.now + .seconds(20)
        while attempts.all.count < 4, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
        #expect(attempts.all.map(\.attempt) == [1, 2, 2, 2])
        _ = try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test("Many publishes are confirmed together, each with its own outcome")
    func publishAll() async throws {
        let connection = try await Self.connect("publish-all")
        let queue = "test.publish-all.\(UUID().uuidString.prefix(8).lowercased())"
        try await connection.declare(AMQPQueue(name: queue, durable: false, autoDelete: false))
        let messages = (0..<200).map { index in
            OutgoingMessage(
                exchange: "", routingKey: queue, body: Array("\(index)".utf8), properties: AMQPProperties(), mandatory: true)
        }
        let unroutable = OutgoingMessage(
            exchange: Routing.commandsExchange, routingKey: "no-such-driver-\(UUID().uuidString.prefix(6))", body: [1],
            properties: AMQPProperties(), mandatory: true)
        // The unroutable one among the others: one basic.ack may confirm it together with its neighbours.
        let batch = Array(messages[..<100]) + [unroutable] + Array(messages[100...])
        let results = await ConfirmedPublisher(amqp: connection).publishAll(batch)
        #expect(results.count == 201)
        let failures = results.enumerated().compactMap { index, result -> (Int, AMQPError)? in
            if case .failure(let error) = result { (index, error) } else { nil }
        }
        #expect(failures.count == 1 && failures.first?.0 == 100, "\(failures.map { "\($0.0): \($0.1)" })")
        guard case .failure(.unroutable) = results[100] else {
            Issue.record("the message no queue takes must fail as unroutable, not \(results[100])")
            return
        }
        #expect(try await connection.queueStatus(queue)?.messageCount == 200)
        _ = try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test("RPC: an unanswered request expires in its queue; a cancelled call returns at once; no queue is unroutable")
    func rpcDeadlinesAndCancellation() async throws {
        let connection = try await Self.connect("rpc")
        let silent = "test.rpc-silent.\(UUID().uuidString.prefix(8).lowercased())"
        try await connection.declare(AMQPQueue(name: silent, durable: false, autoDelete: false))
        let client = RPCClient(amqp: connection)

        await #expect(throws: RPCClient.Failure.timeout(after: .milliseconds(300))) {
            _ = try await client.call(Self.command(marker: "rpc"), exchange: "", routingKey: silent, timeout: .milliseconds(300))
        }
        // The request carried the deadline as its expiration: it does not wait in the queue for anyone.
        let expiry = ContinuousClock.now + .seconds(10)
        var left = try await connection.queueStatus(silent)?.messageCount
        while left != 0, ContinuousClock.now < expiry {
            try await Task.sleep(for: .milliseconds(50))
            left = try await connection.queueStatus(silent)?.messageCount
        }
        #expect(left == 0)

        let started = ContinuousClock.now
        let call = Task {
            try await client.call(Self.command(marker: "rpc"), exchange: "", routingKey: silent, timeout: .seconds(60))
        }
        try await Task.sleep(for: .milliseconds(200))
        call.cancel()
        await #expect(throws: RPCClient.Failure.cancelled) { _ = try await call.value }
        #expect(ContinuousClock.now - started < .seconds(10))

        await #expect {
            _ = try await client.call(
                Self.command(marker: "rpc"), exchange: Routing.commandsExchange, routingKey: "nobody-\(UUID().uuidString.prefix(6))",
                timeout: .seconds(5))
        } throws: { error in
            if case RPCClient.Failure.unroutable = error { true } else { false }
        }
        _ = try await connection.deleteQueue(silent)
        await connection.close()
    }

    @Test("RPC: a request no queue takes is sent again for up to a second, so a request queue declared meanwhile takes it")
    func rpcResendsUnroutableRequests() async throws {
        let connection = try await Self.connect("rpc-unroutable")
        let name = "test.rpc-late.\(UUID().uuidString.prefix(8).lowercased())"
        // A grace far longer than the 300 ms below, so a loaded machine's slow declare still lands in it.
        let patient = RPCClient(amqp: connection, unroutableGrace: .seconds(20))
        let started = ContinuousClock.now
        let call = Task {
            try await patient.call(Self.command(marker: "late"), exchange: "", routingKey: name, timeout: .seconds(30))
        }
        // As a request queue whose node was lost, declared again by its consumer a moment later.
        try await Task.sleep(for: .milliseconds(300))
        try await connection.declare(AMQPQueue(name: name, durable: false, autoDelete: false))
        let consumer = try await connection.consume(queue: name, prefetch: 10)
        let responder = RPCResponder(amqp: connection)
        let delivery = try #require(await consumer.next(within: .seconds(30)), "the resent request never arrived")
        let request = try MessageCodec.decode(CommandPayload.self, from: delivery.body)
        let reply = request.reply(.failure(OperationError(code: "test", message: "answered", retriable: false)))
        _ = await responder.answer(delivery, kind: request.kind, with: reply)
        try await connection.ack(delivery)
        let answered = try await call.value
        guard case .failure(let failure) = answered.payload else {
            Issue.record("expected the test's answer, got \(answered.kind)")
            return
        }
        #expect(failure.message == "answered")
        #expect(ContinuousClock.now - started < .seconds(15))  // not the 30 s timeout
        await consumer.cancel()
        _ = try await connection.deleteQueue(name)

        // With no queue at all it fails as unroutable once the (default, 1 s) grace has passed, long
        // before its deadline.
        let client = RPCClient(amqp: connection)
        let start = ContinuousClock.now
        await #expect {
            _ = try await client.call(Self.command(marker: "nobody"), exchange: "", routingKey: name, timeout: .seconds(30))
        } throws: { error in
            if case RPCClient.Failure.unroutable = error { true } else { false }
        }
        let waited = ContinuousClock.now - start
        #expect(waited >= .milliseconds(500) && waited < .seconds(5), "failed after \(waited)")
        await connection.close()
    }

    @Test("A nacked publish is published again after a pause, and the nack is thrown only once the pauses are spent")
    func nackedPublishesArePublishedAgain() async throws {
        let connection = try await Self.connect("nack-retry")
        // A queue that holds one message and refuses (nacks) the next while it is full.
        let name = "test.nack-retry.\(UUID().uuidString.prefix(8).lowercased())"
        var full = AMQPQueue(name: name, durable: false, autoDelete: false)
        full.otherArguments = ["x-max-length": .int(1), "x-overflow": .string("reject-publish")]
        try await connection.declare(full)
        let publisher = ConfirmedPublisher(amqp: connection)
        func message(_ text: String) -> OutgoingMessage {
            OutgoingMessage(exchange: "", routingKey: name, body: Array(text.utf8), properties: AMQPProperties(), mandatory: true)
        }
        try await publisher.publish(message("first"))

        // Nothing makes room: refused after every pause.
        let started = ContinuousClock.now
        await #expect {
            try await publisher.publish(message("refused"))
        } throws: { error in
            if case AMQPError.nacked = error { true } else { false }
        }
        #expect(ContinuousClock.now - started >= .milliseconds(1700), "the pauses were not spent")

        // Room is made while it waits: taken on a later try.
        let second = Task { try await publisher.publish(message("second")) }
        try await Task.sleep(for: .milliseconds(20))
        let consumer = try await connection.consume(queue: name, prefetch: 1)
        let first = try #require(await consumer.next(within: .seconds(30)))
        #expect(first.text == "first")
        try await connection.ack(first)
        try await second.value
        let taken = try #require(await consumer.next(within: .seconds(30)))
        #expect(taken.text == "second")
        try await connection.ack(taken)
        await consumer.cancel()
        _ = try await connection.deleteQueue(name)
        await connection.close()
    }

    @Test("A message republished by its own consumer keeps its first sender; anyone else's user-id is taken as it is")
    func originalSender() async throws {
        let connection = try await Self.connect("sender")
        let queue = try await Self.serviceQueue("sender", on: connection)
        let own = connection.configuration.user
        let consumer = try await connection.consume(queue: queue, prefetch: 4)
        var properties = AMQPProperties()
        properties.headers[Routing.originUserHeader] = .string("paz-gateway")
        try await connection.publish(exchange: "", routingKey: queue, body: [1], properties: properties)
        let delivery = try #require(await consumer.next(within: .seconds(30)))
        // Published by this very user: the header is believed.
        #expect(delivery.originalSender(ownUser: own) == "paz-gateway")
        // Seen by a consumer of another user, the same header is not.
        #expect(delivery.originalSender(ownUser: "paz-driver-other") == own)
        try await connection.ack(delivery)
        await consumer.cancel()
        _ = try await connection.deleteQueue(queue)
        await connection.close()
    }
}
