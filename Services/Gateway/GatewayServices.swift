import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIHummingbird
import OpenAPIRuntime
package import PazAMQP
import PazControlPlane
import PazGatewayAPI
import PazGatewayServer
import PazRedis
import PazSecrets
package import PazServiceKit
package import PazStore
package import ServiceLifecycle
import Synchronization

/// The HTTP API server (Hummingbird 2 + the generated handlers), run as a Service.
package struct GatewayServer: Service {
    let gateway: Gateway
    private let bound = BoundPort()

    init(gateway: Gateway) {
        self.gateway = gateway
    }

    /// The port the server listens on (the kernel's choice with `HTTP_PORT=0`); waits until it is bound.
    package func listeningPort() async -> Int {
        await bound.value()
    }

    package func run() async throws {
        let router = Router()
        try gateway.registerHandlers(
            on: router, serverURL: URL(string: "/")!, configuration: .gatewayAPI,
            middlewares: [
                ProblemMiddleware(logger: gateway.logger),
                BreakerMiddleware(redis: gateway.breakers.redis),
                AuthMiddleware(
                    adminToken: gateway.configuration.adminToken, store: gateway.store,
                    rateLimiter: RateLimiter(limit: gateway.configuration.rateLimitPerSecond, store: gateway.store)),
                StatusFastPath(gateway: gateway),
            ])
        let configuration = gateway.configuration
        let application = HTTPApplication(
            responder: RequestGate(next: router.buildResponder(), maxBodyBytes: configuration.maxBodyBytes),
            server: .http1OnEventLoops(),
            host: configuration.httpHost, port: configuration.httpPort, serverName: "paz-gateway",
            onServerRunning: { [bound] channel in bound.set(channel.localAddress?.port ?? -1) },
            logger: gateway.logger)
        gateway.logger.info("gateway listening", metadata: ["host": "\(configuration.httpHost)", "port": "\(configuration.httpPort)"])
        try await application.run()
    }
}

/// What ``buildGatewayServices(configuration:runtime:)`` returns: the services to run, in order, and
/// handles tests use.
package struct GatewayServices: Sendable {
    /// Connections, event consumer, HTTP server: pass to `buildServiceGroup`.
    package let services: [any Service]
    package let server: GatewayServer
    package let store: Store
    package let amqp: AMQPConnection
    /// The circuit breakers of Redis and RabbitMQ.
    package let breakers: GatewayBreakers
}

/// Builds the gateway: Redis store, AMQP connection, the event consumer and the HTTP server, and
/// registers the readiness checks (AMQP connected, Redis PING unless its breaker is open).
package func buildGatewayServices(configuration: GatewayConfiguration, runtime: ServiceRuntime) throws -> GatewayServices {
    let logger = runtime.logger
    var secretBox: SecretBox?
    if let path = configuration.masterKeyFile {
        secretBox = SecretBox(masterKey: try MasterKey.fromFile(URL(fileURLWithPath: path)))
    }
    let connections = ServiceConnections(
        amqp: configuration.amqp, redis: configuration.redis, secretBox: secretBox, trackedReads: true, probeInterval: .seconds(1),
        logger: logger, declare: { amqp throws(AMQPError) in try await GatewayTopology.declare(on: amqp) })
    let store = connections.store
    let amqp = connections.amqp
    let breakers = GatewayBreakers(policy: configuration.breaker, logger: logger)
    connections.redis.onPrimarySwitch { breakers.redis.dependencyMoved() }
    runtime.readiness.register("amqp") { GatewayReadiness.amqpConnected(amqp) }
    runtime.readiness.register("redis") { await GatewayReadiness.redisAnswers(store, breaker: breakers.redis) }
    let gateway = Gateway(
        store: store, amqp: amqp, configuration: configuration, runtime: runtime, logger: logger,
        streams: StreamLimiter(limit: configuration.maxEventStreamsPerTenant), breakers: breakers)
    let server = GatewayServer(gateway: gateway)
    return GatewayServices(
        services: [
            connections, EventConsumer(connections: connections, logger: logger),
            DeadLetterConsumer(
                connections: connections, authorizeSenders: configuration.authorizeDeadLetters, logger: logger),
            OutboxRelay(connections: connections, logger: logger), server,
        ],
        server: server, store: store, amqp: amqp, breakers: breakers)
}

/// A value set once and awaited by many.
private final class BoundPort: Sendable {
    private let state = Mutex<(value: Int?, waiters: [CheckedContinuation<Int, Never>])>((nil, []))

    func set(_ value: Int) {
        let waiters = state.withLock { state in
            state.value = value
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: value) }
    }

    func value() async -> Int {
        await withCheckedContinuation { continuation in
            let value: Int? = state.withLock { state in
                if let value = state.value { return value }
                state.waiters.append(continuation)
                return nil
            }
            if let value { continuation.resume(returning: value) }
        }
    }
}
