import Foundation
import Logging
import PazAMQP
import PazLocalServers
import PazTestSupport
import Testing

/// `connection.blocked`: a resource alarm on a private broker (memory high watermark 0) blocks
/// publishing; publishes fail at once with a retriable `.blocked` instead of hanging until their
/// confirm timeout, and go through again once the alarm clears.
@Suite("AMQP: publishing while the broker blocks it", .timeLimit(.minutes(3)))
struct AMQPBlockedTests {
    @Test("a memory alarm blocks the connection: publishes fail at once with .blocked, then recover")
    func memoryAlarmBlocksPublishes() async throws {
        let server = try await TestRabbitMQ.startPrivate()
        let connection = AMQPConnection(
            configuration: AMQPConfiguration(
                host: server.host, port: server.port, user: server.user, password: server.password,
                connectionName: "blocked-publisher", confirmTimeout: .seconds(60)),
            logger: Logger(label: "test.amqp.blocked"))
        do {
            try await connection.waitUntilConnected(timeout: .seconds(30))
            let queue = unique("blocked")
            try await connection.declare(AMQPQueue.quorum(name: queue, deliveryLimit: 5))
            try await connection.publish(exchange: "", routingKey: queue, body: Array("before".utf8))
            #expect(connection.blockedReason == nil)

            try await server.setMemoryHighWatermark(0)
            // The broker announces the block (at once, or when the connection next publishes): the
            // publish that meets it fails well before its 60 s confirm timeout.
            let started = ContinuousClock.now
            var sawBlocked = false
            while !sawBlocked && ContinuousClock.now - started < .seconds(30) {
                do throws(AMQPError) {
                    try await connection.publish(exchange: "", routingKey: queue, body: Array("during".utf8))
                    try? await Task.sleep(for: .milliseconds(100))
                } catch {
                    guard case .blocked = error else { throw error }
                    #expect(error.isRetriable)
                    sawBlocked = true
                }
            }
            #expect(sawBlocked, "no publish failed with .blocked within 30 s of the alarm")
            let reason = try #require(connection.blockedReason)
            #expect(reason.contains("memory"), "reason: \(reason)")
            #expect(connection.state == .connected)

            // Known blocked: the next publish does not even reach the connection thread.
            let next = ContinuousClock.now
            let error = await #expect(throws: AMQPError.self) {
                try await connection.publish(exchange: "", routingKey: queue, body: Array("refused".utf8))
            }
            if case .blocked = error {} else { Issue.record("expected blocked, got \(String(describing: error))") }
            #expect(ContinuousClock.now - next < .seconds(5))  // no wait for the confirm (60 s)

            try await server.setMemoryHighWatermark(0.4)
            #expect(await eventually(timeout: .seconds(30)) { connection.blockedReason == nil })
            try await connection.publish(exchange: "", routingKey: queue, body: Array("after".utf8))
        } catch {
            await connection.close()
            await server.stop()
            throw error
        }
        await connection.close()
        await server.stop()
    }
}
