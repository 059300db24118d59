import Foundation
import Prometheus
import PazRedis
import HTTPTypes
import OpenAPIRuntime
import PazAMQP
import PazGatewayAPI
import PazServiceKit
import PazStore

/// `/healthz`, `/readyz`, `/metrics`, `/openapi.yaml` on the API port (no token).
extension Gateway {
    func getHealth(_ input: Operations.GetHealth.Input) async throws -> Operations.GetHealth.Output {
        .ok(.init(body: .json(.init(status: .ok))))
    }

    func getReadiness(_ input: Operations.GetReadiness.Input) async throws -> Operations.GetReadiness.Output {
        let amqpUp = GatewayReadiness.amqpConnected(amqp)
        let redisUp = await GatewayReadiness.redisAnswers(store, breaker: breakers.redis)
        let readiness = Components.Schemas.Readiness(
            status: amqpUp && redisUp ? .ready : .notReady,
            checks: .init(redis: redisUp ? .up : .down, rabbitmq: amqpUp ? .up : .down))
        if amqpUp && redisUp { return .ok(.init(body: .json(readiness))) }
        return .serviceUnavailable(.init(headers: .init(retryAfter: 5), body: .json(readiness)))
    }

    func getMetrics(_ input: Operations.GetMetrics.Input) async throws -> Operations.GetMetrics.Output {
        var bytes: [UInt8] = []
        runtime.metrics.emit(into: &bytes)
        return .ok(.init(body: .plainText(HTTPBody(bytes))))
    }

    func getOpenAPIDocument(_ input: Operations.GetOpenAPIDocument.Input) async throws
        -> Operations.GetOpenAPIDocument.Output
    {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
            let data = FileManager.default.contents(atPath: url.path)
        else {
            throw GatewayProblem(.internalServerError, "internal", "Internal error", detail: "openapi.yaml is missing from the bundle")
        }
        return .ok(.init(body: .yaml(HTTPBody(Array(data)))))
    }
}

/// The gateway's readiness: AMQP connected and Redis answering PING. Both answer at once while the
/// dependency is known down (no I/O then).
enum GatewayReadiness {
    static func amqpConnected(_ amqp: AMQPConnection) -> Bool {
        if case .connected = amqp.state { return true }
        return false
    }

    /// False without a PING while Redis's breaker is open or the client knows Redis is unreachable.
    static func redisAnswers(_ store: Store, breaker: DependencyBreaker) async -> Bool {
        if breaker.isOpen || store.redis.isUnavailable { return false }
        return (try? await store.redis.command(["PING"]))?.string == "PONG"
    }
}
