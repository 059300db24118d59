package import PazAMQP

extension AMQPConsumer {
    /// The next delivery, or nil when none arrives within `timeout` (the consumer is then
    /// cancelled): a test waiting for a message never waits unbounded.
    package func next(within timeout: Duration) async -> AMQPDelivery? {
        let timer = Task { try await Task.sleep(for: timeout); await cancel() }
        defer { timer.cancel() }
        var iterator = makeAsyncIterator()
        return await iterator.next()
    }
}
