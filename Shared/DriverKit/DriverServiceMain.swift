package import Configuration
import Logging
import PazAMQP
import PazRedis
import PazSecrets
import PazServiceKit
import PazStore
import ServiceLifecycle

/// The whole `main` of a driver service:
///
/// ```swift
/// @main enum Main {
///     static func main() async throws {
///         try await DriverServiceMain.run(defaultServiceName: "driver-generic") { reader in try GenericDriver(reader: reader) }
///     }
/// }
/// ```
///
/// It bootstraps the service kit (logs, metrics, `/healthz`, `/readyz` = AMQP connected + Redis
/// reachable), reads ``DriverServiceConfiguration`` and the master key (`PAZ_MASTER_KEY_FILE`), builds
/// the driver and runs ``DriverService`` until SIGTERM/SIGINT.
package enum DriverServiceMain {
    /// Runs the driver `makeDriver` builds; `defaultPrefetch` is how many commands it handles at once
    /// unless `DRIVER_PREFETCH` says otherwise.
    package static func run(
        defaultServiceName: String, defaultPrefetch: Int = 8, makeDriver: (ConfigReader) throws -> any Driver
    ) async throws {
        let reader = try await ConfigurationSources.makeReader()
        let runtime = try ServiceKit.bootstrap(try ServiceKitConfiguration(reader: reader, defaultServiceName: defaultServiceName))
        let configuration = try DriverServiceConfiguration(
            reader: reader, serviceName: runtime.configuration.serviceName, defaultPrefetch: defaultPrefetch)
        let masterKey = try MasterKey.fromEnvironment()
        let driver = try makeDriver(reader)
        let connection = AMQPConnection(configuration: configuration.amqp, logger: runtime.logger)
        let redis = RedisClient(configuration: configuration.redis, logger: runtime.logger)
        runtime.readiness.register("amqp") { connection.state == .connected }
        runtime.readiness.register("redis") { (try? await redis.command("PING")) != nil }
        let service = DriverService(
            driver: driver, connection: connection, store: Store(redis: redis, secretBox: SecretBox(masterKey: masterKey)),
            configuration: configuration, logger: runtime.logger)
        try await buildServiceGroup(runtime, services: [ConnectionCloser(connection: connection), service]).run()
    }
}

/// Closes the AMQP connection after the driver service (later in the group) has returned.
private struct ConnectionCloser: Service {
    let connection: AMQPConnection

    func run() async throws {
        try? await gracefulShutdown()
        await connection.close()
    }
}
