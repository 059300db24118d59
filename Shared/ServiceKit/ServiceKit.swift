package import Logging
import Metrics
package import Prometheus
package import ServiceLifecycle
import Synchronization
import UnixSignals

/// What a service's `main` gets from the kit: its settings, its logger, the metrics registry behind
/// `/metrics`, the readiness checks behind `/readyz`, and the ops server that serves them.
///
/// A service's `@main` is a few lines:
///
/// ```swift
/// @main
/// struct DriverQEMU {
///     static func main() async throws {
///         let reader = try await ConfigurationSources.makeReader()
///         let runtime = try ServiceKit.bootstrap(try ServiceKitConfiguration(reader: reader, defaultServiceName: "driver-qemu"))
///         let amqp = try AMQPConfiguration(reader: reader)          // each component: init(reader:) throws
///         let connection = AMQPConnectionService(amqp, logger: runtime.logger)
///         runtime.readiness.register("amqp") { await connection.isOpen }
///         let consumer = DriverConsumer(connection: connection, logger: runtime.logger)
///         try await buildServiceGroup(runtime, services: [connection, consumer]).run()
///     }
/// }
/// ```
package struct ServiceRuntime: Sendable {
    package let configuration: ServiceKitConfiguration
    /// The service's root logger (label = service name, level from configuration).
    package let logger: Logger
    /// The registry `/metrics` exposes. After ``ServiceKit/bootstrap(_:output:)`` it also backs swift-metrics.
    package let metrics: PrometheusCollectorRegistry
    /// The checks `/readyz` runs.
    package let readiness: ReadinessChecks
    /// The ops server (`/healthz`, `/readyz`, `/metrics`); ``buildServiceGroup(_:services:)`` runs it first.
    package let opsServer: OpsServer

    /// A runtime without touching process-wide state: tests make one per test with a fresh registry.
    package init(
        configuration: ServiceKitConfiguration, logger: Logger,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        readiness: ReadinessChecks = ReadinessChecks()
    ) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = metrics
        self.readiness = readiness
        self.opsServer = OpsServer(configuration: configuration, readiness: readiness, metrics: metrics, logger: logger)
    }
}

/// Process-wide set-up.
package enum ServiceKit {
    private static let bootstrapped = Atomic<Bool>(false)

    /// Bootstraps swift-log (JSON or text handler per ``ServiceKitConfiguration/logFormat``, at
    /// ``ServiceKitConfiguration/logLevel``, redacting sensitive metadata) and swift-metrics (backed by a
    /// new Prometheus registry), and returns the runtime built on them.
    ///
    /// Call it exactly once per process, first thing in `main`: swift-log and swift-metrics can each be
    /// bootstrapped only once. Tests must not call it (they run in one process); they build a
    /// ``ServiceRuntime`` directly.
    /// - Parameter output: where log lines go; JSON to standard output, text to standard error by default.
    /// - Throws: ``ServiceKitError/alreadyBootstrapped`` on a second call.
    package static func bootstrap(
        _ configuration: ServiceKitConfiguration, output: LogOutput? = nil
    ) throws(ServiceKitError) -> ServiceRuntime {
        guard bootstrapped.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
        else { throw .alreadyBootstrapped }
        LoggingSystem.bootstrap { label in makeLogHandler(label: label, configuration: configuration, output: output) }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return ServiceRuntime(
            configuration: configuration, logger: Logger(label: configuration.serviceName), metrics: registry
        )
    }

    /// The handler ``bootstrap(_:output:)`` installs for `label`; usable directly to build a `Logger`
    /// without bootstrapping (`Logger(label:) { makeLogHandler(label: $0, …) }`).
    package static func makeLogHandler(
        label: String, configuration: ServiceKitConfiguration, output: LogOutput? = nil
    ) -> any LogHandler {
        switch configuration.logFormat {
        case .json: JSONLogHandler(label: label, level: configuration.logLevel, output: output ?? .standardOutput)
        case .text: TextLogHandler(label: label, level: configuration.logLevel, output: output ?? .standardError)
        }
    }
}

/// The service group a service's `main` runs: the ops server first, then `services` in dependency order
/// (connections before the consumers that use them), stopped gracefully on SIGTERM or SIGINT.
///
/// Shutdown contract. On SIGTERM/SIGINT (or `triggerGracefulShutdown()`) `/readyz` turns 503 at once
/// (check ``ReadinessChecks/shutdownCheckName``), then the group signals graceful shutdown to the services
/// in REVERSE order, each after the one behind it has returned: consumers first, then their connections,
/// the ops server last (so `/healthz` and `/metrics` answer while work drains). A consumer must then
/// 1. stop taking new work (cancel its AMQP consumer / stop fetching),
/// 2. finish what is in flight and ack it (its connection is still open, because it is earlier in the list),
/// 3. return from `run()`; only then is its connection asked to close.
/// If shutdown takes longer than ``ServiceKitConfiguration/shutdownTimeout`` the group cancels the rest.
/// A service that returns or throws on its own also starts a graceful shutdown of the whole group, so the
/// other services still finish their in-flight work; `run()` then rethrows the first error.
///
/// ```swift
/// struct Consumer: Service {
///     func run() async throws {
///         let deliveries = try await channel.consume(queue)
///         try await withGracefulShutdownHandler {
///             for try await delivery in deliveries {            // ends after cancelConsumer()
///                 try await handle(delivery)                    // in-flight work completes …
///                 try await delivery.ack()                      // … and is acked before returning
///             }
///         } onGracefulShutdown: {
///             channel.cancelConsumer()                          // 1. stop taking new work
///         }
///     }
/// }
/// ```
package func buildServiceGroup(_ runtime: ServiceRuntime, services: [any Service]) -> ServiceGroup {
    let all: [any Service] = [runtime.opsServer] + services + [ShutdownNotice(readiness: runtime.readiness)]
    var configuration = ServiceGroupConfiguration(
        services: all.map {
            .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup,
                  failureTerminationBehavior: .gracefullyShutdownGroup)
        },
        gracefulShutdownSignals: [.sigterm, .sigint],
        logger: runtime.logger
    )
    configuration.maximumGracefulShutdownDuration = runtime.configuration.shutdownTimeout
    return ServiceGroup(configuration: configuration)
}

/// Last in the group, so the first to hear of graceful shutdown: marks the service not ready.
private struct ShutdownNotice: Service {
    let readiness: ReadinessChecks

    func run() async throws {
        try? await gracefulShutdown()  // returns on graceful shutdown, throws on cancellation: both end here
        readiness.beginShutdown()
    }
}
