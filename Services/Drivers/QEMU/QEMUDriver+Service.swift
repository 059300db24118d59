import Logging
import PazDriverKit
import PazHTTP

extension QEMUDriver {
    /// `paz-driver-qemu`: bootstraps the service kit and runs the driver kit's consumer loop with this
    /// driver (settings: ``QEMUSettings``).
    package static func runService() async throws {
        try await DriverServiceMain.run(defaultServiceName: "driver-qemu") { reader in
            let settings = try QEMUSettings(reader: reader)
            let logger = Logger(label: "paz.driver.qemu.images")
            let http = HTTPClient(configuration: .init(threadName: "paz-qemu-images"), logger: logger)
            return QEMUDriver(settings: settings, images: ImageCache(
                directory: settings.imageCacheDirectory, sources: settings.imageSources, http: http, logger: logger))
        }
    }
}
