import Foundation
import HTTPTypes
import OpenAPIRuntime
import PazGatewayAPI
import PazSchemas
import PazStore

/// `GET /v1/operations/{id}` and its server-sent event stream.
extension Gateway {
    func getOperation(_ input: Operations.GetOperation.Input) async throws -> Operations.GetOperation.Output {
        let tenant = try Principal.tenant()
        let view = try await findOperation(input.path.operation, tenant: tenant)
        return .ok(.init(body: .json(try await OperationMapper(store: store).operation(view))))
    }

    /// Polls the store every 200 ms and sends `snapshot`, then `state`/`progress` on each change, and
    /// `end` once the operation finished; a tenant holds at most `events.maxStreamsPerTenant` at once.
    func streamOperationEvents(_ input: Operations.StreamOperationEvents.Input) async throws
        -> Operations.StreamOperationEvents.Output
    {
        let tenant = try Principal.tenant()
        let first = try await findOperation(input.path.operation, tenant: tenant)
        let streams = streams
        try streams.acquire(tenant)
        let mapper = OperationMapper(store: store)
        let store = store
        let id = first.record.id
        let principal = Principal.current
        let stream = AsyncThrowingStream<ArraySlice<UInt8>, any Error> { continuation in
            let task = Task {
                await Principal.$current.withValue(principal) {
                    var sequence: Int64 = 0
                    var polls = 0
                    var last: Components.Schemas.Operation?
                    continuation.yield(ArraySlice("retry: 3000\n\n".utf8))
                    var view: OperationView? = first
                    while let current = view, !Task.isCancelled {
                        guard let operation = try? await mapper.operation(current) else { break }
                        let finished = current.phase.isFinished
                        if operation != last {
                            sequence += 1
                            let event = last == nil ? "snapshot"
                                : (operation.state != last?.state ? "state" : "progress")
                            continuation.yield(Self.sse(event: event, sequence: sequence, operation: operation))
                            last = operation
                        }
                        if finished {
                            sequence += 1
                            continuation.yield(Self.sse(event: "end", sequence: sequence, operation: operation))
                            break
                        }
                        try? await Task.sleep(for: .milliseconds(200))
                        polls += 1
                        // A comment every 5 s: keeps proxies from closing the stream, and a client that
                        // left is noticed (the write fails), which frees its slot.
                        if polls % 25 == 0 { continuation.yield(ArraySlice(": keep-alive\n\n".utf8)) }
                        view = try? await store.operation(id, tenant: tenant)
                    }
                    continuation.finish()
                }
            }
            continuation.onTermination = { _ in
                task.cancel()
                streams.release(tenant)
            }
        }
        return .ok(.init(headers: .init(cacheControl: "no-store"), body: .textEventStream(HTTPBody(stream, length: .unknown))))
    }

    private static func sse(event: String, sequence: Int64, operation: Components.Schemas.Operation) -> ArraySlice<UInt8> {
        let payload = Components.Schemas.OperationEvent(sequence: sequence, operation: operation)
        let json = (try? JSONEncoder.gateway.encode(payload)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return ArraySlice("event: \(event)\nid: \(sequence)\ndata: \(json)\n\n".utf8)
    }

    private func findOperation(_ text: String, tenant: TenantID) async throws -> OperationView {
        guard let id = try? OperationID(text, field: "operation"),
            let view = try await stored({ () async throws(StoreError) in try await store.operation(id, tenant: tenant) })
        else { throw GatewayProblem.notFound("operation \(text)") }
        return view
    }
}
