import PazControlPlane
package import CoreMetrics
package import PazServiceKit
package import ServiceLifecycle

/// The status collector's parts, in the order the service group runs them: connections first (they
/// close last), then the event applier, then the poller (the first to stop on shutdown).
package struct StatusCollector: Sendable {
    package let connections: CollectorConnections
    package let applier: EventApplier
    package let poller: StatePoller

    /// Every service, dependencies first, for ``PazServiceKit/buildServiceGroup(_:services:)``.
    package var services: [any Service] { [connections, applier, poller] }
}

/// Builds the collector's services for `runtime` and registers its readiness checks (AMQP connected,
/// Redis reachable). Tests call this directly with their own configuration and metrics factory.
package func buildStatusCollectorServices(
    configuration: CollectorConfiguration, runtime: ServiceRuntime,
    metricsFactory: any MetricsFactory = MetricsSystem.factory
) -> StatusCollector {
    let logger = runtime.logger
    let metrics = CollectorMetrics(factory: metricsFactory)
    let connections = CollectorConnections(configuration: configuration, logger: logger)
    connections.registerReadiness(runtime.readiness)
    return StatusCollector(
        connections: connections,
        applier: EventApplier(connections: connections, configuration: configuration, metrics: metrics, logger: logger),
        poller: StatePoller(connections: connections, configuration: configuration, metrics: metrics, logger: logger))
}

/// `paz-status-collector`: reads the configuration (environment, `PAZ_CONFIG_FILE`), bootstraps
/// logging and metrics, and runs until SIGTERM or SIGINT.
package enum StatusCollectorCommand {
    package static func main() async throws {
        let reader = try await ConfigurationSources.makeReader()
        let runtime = try ServiceKit.bootstrap(
            try ServiceKitConfiguration(reader: reader, defaultServiceName: "status-collector"))
        let configuration = try CollectorConfiguration(reader: reader, serviceName: runtime.configuration.serviceName)
        let collector = buildStatusCollectorServices(configuration: configuration, runtime: runtime)
        try await buildServiceGroup(runtime, services: collector.services).run()
    }
}
