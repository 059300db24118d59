import Foundation
import Synchronization
package import Logging

/// One AMQP 0-9-1 connection to RabbitMQ, owned by a thread of its own.
///
/// librabbitmq blocks and is not thread-safe, so the connection lives on a dedicated thread that runs a
/// loop: it executes the jobs async callers submit (publish, ack, declare…), reads incoming frames
/// (deliveries, confirms, returns), services heartbeats, enforces confirm/RPC deadlines and reconnects
/// with exponential backoff and jitter. After a reconnect it re-declares the remembered topology and
/// restarts consumers. No blocking call ever runs on Swift's cooperative pool.
///
/// Publishes are persistent and confirmed: ``publish(exchange:routingKey:body:properties:mandatory:)``
/// returns only after the broker's basic.ack; a nack, a return, a timeout or a lost connection is a thrown
/// ``AMQPError``. Many publishes may be in flight at once (pipelined confirms).
package final class AMQPConnection: Sendable {
    private let mailbox = Mailbox()
    private let stateBox = StateBox()
    private let callCounter = Atomic<UInt64>(0)
    /// The configuration (its description omits the password).
    package let configuration: AMQPConfiguration

    /// Starts the connection thread; the first connection attempt begins at once. Use
    /// ``waitUntilConnected(timeout:)`` to wait for it.
    package init(configuration: AMQPConfiguration, logger: Logger) {
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "amqp.server"] = "\(configuration)"
        logger[metadataKey: "amqp.connection"] = "\(configuration.connectionName)"
        let mailbox = mailbox
        let stateBox = stateBox
        let name = "amqp-\(configuration.connectionName)"
        let thread = Thread { [logger] in
            // Set from the thread itself, so that the system's name (top, perf) is it too.
            Thread.current.name = name
            ConnectionCore(configuration: configuration, logger: logger, mailbox: mailbox, state: stateBox).run()
        }
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit {
        _ = mailbox.post { core in core.close(nil) }
    }

    /// Connected, reconnecting (with the last error) or closed — for readiness probes.
    package var state: AMQPConnectionState { stateBox.value }

    /// The broker's reason while it blocks publishing on this connection (`connection.blocked`: a
    /// memory or disk alarm), else nil. Meanwhile confirmed publishes and RPC calls fail at once with
    /// ``AMQPError/blocked(reason:)``; consuming and acking go on.
    package var blockedReason: String? { stateBox.blockedReason }

    /// Waits until the connection is up; throws ``AMQPError/notConnected(reason:)`` after `timeout`.
    package func waitUntilConnected(timeout: Duration = .seconds(30)) async throws(AMQPError) {
        let deadline = ContinuousClock.now + timeout
        while true {
            switch state {
            case .connected: return
            case .closed: throw .closed
            case .connecting, .reconnecting:
                guard ContinuousClock.now < deadline else {
                    if case .reconnecting(let reason) = state { throw .notConnected(reason: reason) }
                    throw .notConnected(reason: "no connection within \(timeout)")
                }
                try? await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Closes the connection (channel and connection close); waiting publishes and calls fail with `.closed`.
    package func close() async {
        let result: Result<Void, AMQPError> = await withCheckedContinuation { continuation in
            let completion = Completion(continuation)
            if !mailbox.post({ core in core.close(completion) }) { completion.succeed(()) }
        }
        _ = result
    }

    // MARK: Topology

    /// Declares an exchange and remembers it (re-declared after reconnects).
    package func declare(_ exchange: AMQPExchange) async throws(AMQPError) {
        try await perform { core throws(AMQPError) in try core.declare(.exchange(exchange)) }
    }

    /// Declares a queue and remembers it (re-declared after reconnects).
    package func declare(_ queue: AMQPQueue) async throws(AMQPError) {
        try await perform { core throws(AMQPError) in try core.declare(.queue(queue)) }
    }

    /// Binds a queue to an exchange and remembers the binding.
    package func bind(_ binding: AMQPBinding) async throws(AMQPError) {
        try await perform { core throws(AMQPError) in try core.declare(.binding(binding)) }
    }

    /// Deletes a queue and forgets it; returns how many messages it held.
    @discardableResult
    package func deleteQueue(_ name: String) async throws(AMQPError) -> Int {
        try await perform { core throws(AMQPError) in try core.deleteQueue(name) }
    }

    /// Counts of a queue (passive declare), or nil when it does not exist.
    package func queueStatus(_ name: String) async throws(AMQPError) -> AMQPQueueStatus? {
        try await perform { core throws(AMQPError) in try core.queueStatus(name) }
    }

    // MARK: Publishing

    /// Publishes a message (persistent unless `properties.persistent` is false) and waits for the broker's
    /// confirm. With `mandatory`, a message no queue receives fails with ``AMQPError/unroutable(exchange:routingKey:replyCode:replyText:)``.
    /// While the broker blocks publishing it fails at once with ``AMQPError/blocked(reason:)``.
    package func publish(
        exchange: String, routingKey: String, body: [UInt8], properties: AMQPProperties = AMQPProperties(),
        mandatory: Bool = true
    ) async throws(AMQPError) {
        if let reason = blockedReason { throw .blocked(reason: reason) }
        let result: Result<Void, AMQPError> = await withCheckedContinuation { continuation in
            let completion = Completion(continuation)
            let posted = mailbox.post { core in
                do throws(AMQPError) {
                    try core.publish(
                        exchange: exchange, routingKey: routingKey, body: body, properties: properties,
                        mandatory: mandatory, completion: completion)
                } catch {
                    completion.fail(error)
                }
            }
            if !posted { completion.fail(.closed) }
        }
        try result.get()
    }

    /// Publishes on a channel without confirms and returns at once: the connection thread writes
    /// it after the jobs queued before it (so a reply goes out before the ack of its request that
    /// follows it). For RPC replies, whose loss the caller's deadline already covers; a failure is
    /// only logged.
    package func publishUnconfirmed(
        exchange: String, routingKey: String, body: [UInt8], properties: AMQPProperties = AMQPProperties()
    ) {
        _ = mailbox.post { core in
            core.publishUnconfirmed(exchange: exchange, routingKey: routingKey, body: body, properties: properties)
        }
    }

    // MARK: Consuming

    /// Starts a manual-ack consumer with `prefetch` unacked deliveries at most. The consumer survives
    /// reconnects (deliveries of a lost connection become stale: acking them throws ``AMQPError/staleDelivery(deliveryTag:)``).
    package func consume(queue: String, prefetch: UInt16) async throws(AMQPError) -> AMQPConsumer {
        let (stream, continuation) = AsyncStream.makeStream(of: AMQPDelivery.self)
        let tag = try await perform { core throws(AMQPError) in
            try core.consume(queue: queue, prefetch: prefetch, continuation: continuation)
        }
        let mailbox = mailbox
        continuation.onTermination = { _ in
            _ = mailbox.post { core in core.cancel(consumerTag: tag) }
        }
        return AMQPConsumer(stream: stream, tag: tag, connection: self)
    }

    /// Acknowledges a delivery without waiting for it to be written: the ack goes out after
    /// everything posted to this connection before it. Its failure (a delivery of a replaced
    /// connection, a lost or closed connection) is only logged: the broker delivers the message again.
    package func acknowledge(_ delivery: AMQPDelivery) {
        _ = mailbox.post { core in core.acknowledge(delivery) }
    }

    /// Acknowledges a delivery.
    package func ack(_ delivery: AMQPDelivery) async throws(AMQPError) {
        try await perform { core throws(AMQPError) in try core.settle(delivery, .ack) }
    }

    /// Negatively acknowledges a delivery; without requeue it goes to the dead-letter exchange (if any).
    package func nack(_ delivery: AMQPDelivery, requeue: Bool) async throws(AMQPError) {
        try await perform { core throws(AMQPError) in try core.settle(delivery, .nack(requeue: requeue)) }
    }

    /// Rejects a delivery (like nack, for one message).
    package func reject(_ delivery: AMQPDelivery, requeue: Bool) async throws(AMQPError) {
        try await perform { core throws(AMQPError) in try core.settle(delivery, .reject(requeue: requeue)) }
    }

    func cancel(consumerTag: String) async {
        _ = try? await perform { core in core.cancel(consumerTag: consumerTag) }
    }

    // MARK: RPC

    /// Sends a request with direct reply-to and a fresh correlation id, and returns the reply.
    /// Throws ``AMQPError/rpcTimeout(routingKey:after:)`` when no reply arrives within `timeout`,
    /// ``AMQPError/unroutable(exchange:routingKey:replyCode:replyText:)`` when no queue takes the request,
    /// and ``AMQPError/cancelled`` at once when the calling task is cancelled (a late reply is dropped).
    package func call(
        exchange: String = "", routingKey: String, body: [UInt8], properties: AMQPProperties = AMQPProperties(),
        timeout: Duration
    ) async throws(AMQPError) -> AMQPDelivery {
        if let reason = blockedReason { throw .blocked(reason: reason) }
        // Unique among this connection's calls, which is all a direct reply-to needs (a UUID reads /dev/urandom).
        let id = String(callCounter.add(1, ordering: .relaxed).newValue, radix: 36)
        let mailbox = mailbox
        let result: Result<AMQPDelivery, AMQPError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let completion = Completion(continuation)
                guard !Task.isCancelled else { return completion.fail(.cancelled) }
                let posted = mailbox.post { core in
                    do throws(AMQPError) {
                        try core.call(
                            id: id, exchange: exchange, routingKey: routingKey, body: body, properties: properties,
                            timeout: timeout, completion: completion)
                    } catch {
                        completion.fail(error)
                    }
                }
                if !posted { completion.fail(.closed) }
            }
        } onCancel: {
            _ = mailbox.post { core in core.cancelCall(id) }
        }
        return try result.get()
    }

    /// The generation of the current (or last) connection: deliveries carry the one that delivered
    /// them, and a delivery of an older generation can no longer be acknowledged.
    package var epoch: UInt64 { stateBox.epoch }

    // MARK: Plumbing

    /// Runs `body` on the connection thread and returns its result.
    private func perform<T: Sendable>(_ body: @escaping @Sendable (ConnectionCore) throws(AMQPError) -> T)
        async throws(AMQPError) -> T
    {
        let result: Result<T, AMQPError> = await withCheckedContinuation { continuation in
            let completion = Completion(continuation)
            let posted = mailbox.post { core in
                do throws(AMQPError) {
                    completion.succeed(try body(core))
                } catch {
                    completion.fail(error)
                }
            }
            if !posted { completion.fail(.closed) }
        }
        return try result.get()
    }
}

/// The deliveries of one consumer, as an async sequence. Ends when the consumer is cancelled (by
/// ``cancel()``, by the broker, or by closing the connection).
package struct AMQPConsumer: AsyncSequence, Sendable {
    package typealias Element = AMQPDelivery
    private let stream: AsyncStream<AMQPDelivery>
    /// The consumer tag.
    package let tag: String
    private let connection: AMQPConnection

    init(stream: AsyncStream<AMQPDelivery>, tag: String, connection: AMQPConnection) {
        self.stream = stream
        self.tag = tag
        self.connection = connection
    }

    package func makeAsyncIterator() -> AsyncStream<AMQPDelivery>.Iterator {
        stream.makeAsyncIterator()
    }

    /// Stops consuming; unacked deliveries return to the queue.
    package func cancel() async {
        await connection.cancel(consumerTag: tag)
    }
}
