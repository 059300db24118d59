import Foundation
import Hummingbird
package import Logging
import NIOCore
package import Prometheus
import ServiceLifecycle
import Synchronization

/// The operations HTTP server, run as a swift-service-lifecycle `Service`:
/// - `GET /healthz`: 200 while the process runs;
/// - `GET /readyz`: 200 when every ``ReadinessChecks`` check passes, else 503 with a JSON
///   ``ReadinessReport`` naming the failing checks;
/// - `GET /metrics`: the Prometheus text exposition of `metrics`.
///
/// It listens on loopback by default (``ServiceKitConfiguration/opsHost``). On graceful shutdown it stops
/// accepting connections and finishes open requests; put it first in the group so it stops last.
package struct OpsServer: Service {
    package let host: String
    package let port: Int
    private let serviceName: String
    private let readiness: ReadinessChecks
    private let metrics: PrometheusCollectorRegistry
    private let logger: Logger
    private let address = ListeningAddress()

    /// A server for `configuration.opsHost`/`opsPort` answering from `readiness` and `metrics`.
    package init(
        configuration: ServiceKitConfiguration, readiness: ReadinessChecks,
        metrics: PrometheusCollectorRegistry, logger: Logger
    ) {
        self.host = configuration.opsHost
        self.port = configuration.opsPort
        self.serviceName = configuration.serviceName
        self.readiness = readiness
        self.metrics = metrics
        self.logger = logger
    }

    /// The port the server is listening on (the kernel's choice when configured with 0); waits until it is.
    /// - Throws: ``ServiceKitError/opsServerNotListening(host:port:reason:)`` if the server stopped first.
    package func listeningPort() async throws(ServiceKitError) -> Int {
        do {
            return try await address.port()
        } catch let error as ServiceKitError {
            throw error
        } catch {
            throw .opsServerNotListening(host: host, port: port, reason: "\(error)")
        }
    }

    package func run() async throws {
        let application = HTTPApplication(
            responder: makeRouter().buildResponder(),
            host: host, port: port, serverName: serviceName,
            onServerRunning: { [address] channel in
                address.resolve(.success(channel.localAddress?.port ?? -1))
            },
            logger: logger
        )
        do {
            try await application.run()
            address.resolve(.failure(.opsServerNotListening(host: host, port: port, reason: "the server stopped")))
        } catch {
            address.resolve(.failure(.opsServerNotListening(host: host, port: port, reason: "\(error)")))
            throw error
        }
    }

    private func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("healthz") { _, _ in
            Self.response(.ok, contentType: "application/json", body: #"{"status":"alive"}"#)
        }
        router.get("readyz") { [readiness] _, _ in
            let report = await readiness.evaluate()
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let body = (try? encoder.encode(report)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
            return Self.response(report.isReady ? .ok : .serviceUnavailable, contentType: "application/json", body: body)
        }
        router.get("metrics") { [metrics] _, _ in
            var bytes: [UInt8] = []
            metrics.emit(into: &bytes)
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: bytes))
            )
        }
        return router
    }

    private static func response(_ status: HTTPResponse.Status, contentType: String, body: String) -> Response {
        Response(status: status, headers: [.contentType: contentType], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}

/// The port a server ends up listening on, awaited by callers until the server resolves it once.
private final class ListeningAddress: Sendable {
    private enum State {
        case waiting([CheckedContinuation<Int, any Error>])
        case resolved(Result<Int, ServiceKitError>)
    }
    private let state = Mutex(State.waiting([]))

    func port() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let resolved: Result<Int, ServiceKitError>? = state.withLock { state in
                switch state {
                case .waiting(var waiters):
                    waiters.append(continuation)
                    state = .waiting(waiters)
                    return nil
                case .resolved(let result):
                    return result
                }
            }
            if let resolved { continuation.resume(with: resolved) }
        }
    }

    /// Records the first outcome and wakes every waiter; later outcomes are ignored.
    func resolve(_ result: Result<Int, ServiceKitError>) {
        let waiters: [CheckedContinuation<Int, any Error>] = state.withLock { state in
            guard case .waiting(let waiters) = state else { return [] }
            state = .resolved(result)
            return waiters
        }
        for waiter in waiters { waiter.resume(with: result.mapError { $0 as any Error }) }
    }
}
