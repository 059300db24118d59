import PazDriverKit

extension GenericDriver {
    /// `paz-driver-generic`: bootstraps the service kit and runs the driver kit's consumer loop with this
    /// driver (settings: ``AddressPolicy``).
    package static func runService() async throws {
        try await DriverServiceMain.run(defaultServiceName: "driver-generic") { reader in
            GenericDriver(addresses: try AddressPolicy(.generic, reader: reader))
        }
    }
}
