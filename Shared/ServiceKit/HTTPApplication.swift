import Foundation
package import Hummingbird
import HummingbirdCore
package import Logging
package import NIOCore
import NIOHTTP1
import NIOPosix
import PazSchemas
package import ServiceLifecycle
import Synchronization

/// Serves `responder` over HTTP as a swift-service-lifecycle `Service`: what Hummingbird's
/// `Application.run()` does, with two differences. Hummingbird's date cache formats the `Date`
/// header through a Foundation `Calendar`, and the first `Calendar` loads ICU and its time-zone data:
/// about 5 MB resident in every service, idle or not. Here the header is written by
/// ``PazSchemas/Timestamp/formatHTTPDate(_:)``, once a second. And no logger with a request id is
/// derived for every request: handlers log with the server's logger.
package struct HTTPApplication<Responder: HTTPResponder>: Service
where Responder.Context: InitializableFromSource<ApplicationRequestContextSource> {
    private let responder: Responder
    private let server: HTTPServerBuilder
    private let configuration: ServerConfiguration
    private let onServerRunning: @Sendable (any Channel) async -> Void
    private let logger: Logger

    /// A server on `host`:`port` (0: the kernel's choice) answering with `serverName` in the `Server`
    /// header; `onServerRunning` is called once it listens.
    package init(
        responder: Responder, server: HTTPServerBuilder = .http1(), host: String, port: Int, serverName: String,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }, logger: Logger
    ) {
        self.responder = responder
        self.server = server
        self.configuration = ServerConfiguration(address: .hostname(host, port: port), serverName: serverName)
        self.onServerRunning = onServerRunning
        self.logger = logger
    }

    package func run() async throws {
        let date = HTTPDateHeader()
        let (responder, logger, serverName) = (responder, logger, configuration.serverName)
        let server = try server.buildServer(
            configuration: configuration, eventLoopGroup: MultiThreadedEventLoopGroup.singleton, logger: logger
        ) { (request, responseWriter: consuming ResponseWriter, channel) in
            let context = Responder.Context(source: ApplicationRequestContextSource(channel: channel, logger: logger))
            var response: Response
            do {
                response = try await responder.respond(to: request, context: context)
            } catch let error as HTTPParserError {
                // The channel answers 400 and closes.
                throw error
            } catch {
                logger.debug("Unrecognised error", metadata: ["error.type": "\(error)"])
                response = Response(status: .internalServerError)
            }
            response.headers[.date] = date.current
            if let serverName { response.headers[.server] = serverName }
            do {
                try await responseWriter.write(response: response.head, body: response.body)
            } catch is HTTPParserError {
                // Thrown as is, the channel would write a second response: end the connection instead.
                throw ParseErrorWhileWritingResponse()
            }
        } onServerRunning: { [onServerRunning] channel in
            await onServerRunning(channel)
        }
        try await ServiceGroup(configuration: .init(services: [date, server], logger: logger)).run()
    }
}

/// The request could not be parsed while its response was being written.
private struct ParseErrorWhileWritingResponse: Error {}

/// The `Date` header's text, refreshed every second while it runs.
private final class HTTPDateHeader: Service, Sendable {
    private let text = Mutex(Timestamp.formatHTTPDate(Date()))

    var current: String { text.withLock { $0 } }

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: .seconds(1))
                self.refresh()
            }
        }
    }

    private func refresh() {
        let now = Timestamp.formatHTTPDate(Date())
        text.withLock { $0 = now }
    }
}
