import Foundation
package import PazAMQP
import PazSchemas

/// A test's own copy of everything dead-lettered on a shared broker: a queue of its own bound to
/// the fanout dead-letter exchange, so tests never compete for the shared dead-letter queue.
/// Open it before whatever should be dead-lettered happens.
package struct DeadLetterDrain: Sendable {
    private let connection: AMQPConnection
    private let queue: String

    /// Declares the copy queue (deleted with its connection or by ``close()``).
    package static func open(on connection: AMQPConnection) async throws -> DeadLetterDrain {
        let queue = "test.dead-letters.\(UUID().uuidString.prefix(12).lowercased())"
        try await connection.declare(AMQPExchange(name: Routing.deadLetterExchange, kind: .fanout))
        try await connection.declare(AMQPQueue(name: queue, durable: false, autoDelete: false))
        try await connection.bind(AMQPBinding(queue: queue, exchange: Routing.deadLetterExchange, routingKey: ""))
        return DeadLetterDrain(connection: connection, queue: queue)
    }

    /// The dead letters whose body contains `marker`, until `count` of them arrived or `timeout`
    /// passed (every copy read is acked: the copies are this test's alone).
    package func take(marker: String, count: Int, timeout: Duration) async throws -> [AMQPDelivery] {
        let consumer = try await connection.consume(queue: queue, prefetch: 200)
        let timer = Task { try await Task.sleep(for: timeout); await consumer.cancel() }
        defer { timer.cancel() }
        var found: [AMQPDelivery] = []
        for await delivery in consumer {
            try await connection.ack(delivery)
            guard delivery.text.contains(marker) else { continue }
            found.append(delivery)
            if found.count == count { break }
        }
        await consumer.cancel()
        return found
    }

    /// Deletes the copy queue.
    package func close() async {
        _ = try? await connection.deleteQueue(queue)
    }
}
