import Logging
import PazDriverKit
import PazHTTP

extension EC2Driver {
    /// `paz-driver-ec2`: bootstraps the service kit and runs the driver kit's consumer loop with this
    /// driver (settings: ``EC2Settings``).
    package static func runService() async throws {
        try await DriverServiceMain.run(defaultServiceName: "driver-ec2") { reader in
            let settings = try EC2Settings(reader: reader)
            let http = HTTPClient(
                configuration: .init(connectTimeout: .seconds(10), totalTimeout: .seconds(60), retry: .none, threadName: "paz-ec2-http"),
                logger: Logger(label: "paz.driver.ec2.http"))
            return EC2Driver(settings: settings, http: http)
        }
    }
}
