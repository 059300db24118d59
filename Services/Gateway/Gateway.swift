import Foundation
import HTTPTypes
import Logging
import PazAMQP
import PazGatewayAPI
import PazGatewayServer
import PazSchemas
import PazServiceKit
import PazStore

/// The gateway's `APIProtocol` implementation; its handlers are split by resource
/// (`Gateway+Admin.swift`, `Gateway+Drivers.swift`, `Gateway+Clusters.swift`…).
struct Gateway: APIProtocol {
    let store: Store
    let amqp: AMQPConnection
    let configuration: GatewayConfiguration
    let runtime: ServiceRuntime
    let logger: Logger
    /// Open operation event streams per tenant (bounded by the configuration).
    let streams: StreamLimiter
    /// Circuit breakers of Redis and RabbitMQ: 503 at once while one is open.
    let breakers: GatewayBreakers
    /// Each tenant's prepared status, by status version (`GET /v1/status`).
    let statusViews = StatusViews()
    /// The registry's live drivers, read at most a second ago (the accept path's driver checks).
    let liveDrivers = LiveDriverCache()

    /// The operation's `Location` and 202 answer.
    func accepted(_ view: OperationView, replayed: Bool) async throws -> Components.Responses.OperationAccepted {
        let operation = try await OperationMapper(store: store).operation(view)
        return Components.Responses.OperationAccepted(
            headers: .init(location: "/v1/operations/\(view.record.id.rawValue)", idempotentReplayed: replayed ? true : nil),
            body: .json(operation))
    }

    /// Runs a store call, mapping its failure to a problem.
    func stored<T>(_ body: () async throws(StoreError) -> T) async throws(GatewayProblem) -> T {
        do {
            return try await body()
        } catch {
            throw GatewayProblem.from(error)
        }
    }
}
