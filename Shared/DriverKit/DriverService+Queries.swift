import Foundation
import Logging
import PazAMQP
import PazControlPlane
import PazSchemas

extension DriverService {
    /// Answers a query on its reply-to (transient, with the correlation id); a driver failure is
    /// the answer (`reply.failure`), never a retry.
    func answer(_ request: CommandRequest) async -> HandlerOutcome {
        let payload: ReplyPayload
        do throws(DriverError) {
            payload = try await query(request)
        } catch {
            request.logger.info("query failed", metadata: ["error": "\(error)"])
            payload = .failure(error.operationError)
        }
        return await RPCResponder(amqp: connection).answer(
            request.delivery, kind: request.envelope.kind, with: request.envelope.reply(payload))
    }

    private func query(_ request: CommandRequest) async throws(DriverError) -> ReplyPayload {
        let context = context(for: request)
        switch request.envelope.payload {
        case .machineStates(let query):
            let observed = try await driver.states(of: query.machines, context: context)
            let now = Date()
            return .states(MachineStates(states: query.machines.map { machine in
                observed[machine] ?? MachineStateObservation(
                    machine: machine, state: .unknown, observedAt: now, detail: "the driver did not report this machine")
            }))
        case .catalogImages(let query):
            return .catalogImages(CatalogImages(images: try await driver.images(query, context: context)))
        case .catalogSizes(let query):
            return .catalogSizes(CatalogSizes(sizes: try await driver.sizes(query, context: context)))
        case .catalogLocations:
            return .catalogLocations(CatalogLocations(locations: try await driver.locations(context: context)))
        case .machinePrecheck(let check):
            return .precheck(try await driver.preCreateCheck(check.machines, context: context))
        case .machineProbe(let action):
            return .probe(try await driver.probe(action.machine, context: context))
        default:
            throw .unsupported(operation: request.envelope.kind.rawValue, reason: "driver services do not answer it")
        }
    }
}
