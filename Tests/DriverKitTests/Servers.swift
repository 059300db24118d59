import PazLocalServers
import PazTestSupport

/// RabbitMQ, then Redis, started one after the other (never while another fixture runs a helper
/// command: see GenericDriverTests' `Servers`).
struct Servers: Sendable {
    let rabbit: RabbitMQServer
    let redis: RedisServer

    private static let fixture = SharedFixture<Servers> {
        let rabbit = try await TestRabbitMQ.sharedServer()
        return Servers(rabbit: rabbit, redis: try await TestRedis.shared())
    }

    static func ready() async throws -> Servers { try await fixture.value() }
}
