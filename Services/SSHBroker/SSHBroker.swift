import PazControlPlane
package import CoreMetrics
import Foundation
package import PazSecrets
package import PazServiceKit
package import ServiceLifecycle

/// The SSH broker's parts, in the order the service group runs them: connections first (they close
/// last), then the consumer (the first to stop on shutdown).
package struct SSHBroker: Sendable {
    package let connections: BrokerConnections
    package let authorities: CertificateAuthorities
    package let consumer: BrokerConsumer

    /// Every service, dependencies first, for ``PazServiceKit/buildServiceGroup(_:services:)``.
    package var services: [any Service] { [connections, consumer] }
}

/// Builds the broker's services for `runtime` and registers its readiness checks (AMQP connected,
/// Redis reachable, consumer running). Tests call this directly with their own configuration,
/// master key and metrics factory.
///
/// - Parameter masterKey: the key the CA private keys are sealed with; nil reads
///   ``BrokerConfiguration/masterKeyFile``.
/// - Throws: ``PazSecrets/SecretError`` when the master key file is missing or unusable.
package func buildSSHBrokerServices(
    configuration: BrokerConfiguration, runtime: ServiceRuntime, masterKey: MasterKey? = nil,
    metricsFactory: any MetricsFactory = MetricsSystem.factory
) throws(SecretError) -> SSHBroker {
    let key: MasterKey
    if let masterKey {
        key = masterKey
    } else {
        key = try MasterKey.fromFile(URL(fileURLWithPath: configuration.masterKeyFile))
    }
    let logger = runtime.logger
    let metrics = BrokerMetrics(factory: metricsFactory)
    let connections = BrokerConnections(configuration: configuration, logger: logger)
    connections.registerReadiness(runtime.readiness)
    let authorities = CertificateAuthorities(
        redis: connections.redis, secretBox: SecretBox(masterKey: key), metrics: metrics, logger: logger)
    let issuer = CertificateIssuer(
        store: connections.store, authorities: authorities, audit: AuditLog(redis: connections.redis),
        configuration: configuration, metrics: metrics)
    let consumer = BrokerConsumer(
        connections: connections, issuer: issuer, configuration: configuration, metrics: metrics, logger: logger)
    runtime.readiness.register("consumer") { consumer.isConsuming }
    return SSHBroker(connections: connections, authorities: authorities, consumer: consumer)
}

/// `paz-ssh-broker`: reads the configuration (environment, `PAZ_CONFIG_FILE`), bootstraps logging
/// and metrics, and runs until SIGTERM or SIGINT.
package enum SSHBrokerCommand {
    package static func main() async throws {
        let reader = try await ConfigurationSources.makeReader()
        let runtime = try ServiceKit.bootstrap(try ServiceKitConfiguration(reader: reader, defaultServiceName: "ssh-broker"))
        let configuration = try BrokerConfiguration(reader: reader, serviceName: runtime.configuration.serviceName)
        let broker = try buildSSHBrokerServices(configuration: configuration, runtime: runtime)
        try await buildServiceGroup(runtime, services: broker.services).run()
    }
}
