import Foundation
import Logging
package import PazCloudDriver
import PazDriverKit
import PazHTTP
import PazSchemas

extension CloudProvider {
    /// Hetzner Cloud API v1 (`https://api.hetzner.cloud/v1`): servers, server actions, SSH keys and
    /// firewalls applied by label selector. User data up to 32 KiB.
    package static let hetzner = CloudProvider(
        name: "hetzner", displayName: "Hetzner", defaultEndpoint: "https://api.hetzner.cloud/v1",
        defaultRegion: "fsn1", defaultSize: "cx22", defaultImage: "debian-12", userDataLimit: 32 * 1024,
        parseError: { _, body in
            let error = try? JSONDecoder().decode(Hetzner.ErrorBody.self, from: body)
            return (error?.error.code, error?.error.message)
        },
        api: { HetznerAPI(rest: $0) })
}

/// `paz-driver-hetzner`: bootstraps the service kit and runs the driver kit's consumer loop with the
/// cloud driver for Hetzner Cloud (settings: ``CloudSettings``, keys `hetzner.*`).
package enum HetznerDriverService {
    package static func run() async throws {
        try await DriverServiceMain.run(defaultServiceName: "driver-hetzner", defaultPrefetch: CloudSettings.defaultPrefetch) { reader in
            let settings = try CloudSettings(driver: "hetzner", reader: reader)
            let http = try HTTPClient(
                configuration: .init(connectTimeout: .seconds(10), totalTimeout: .seconds(60), retry: .none, threadName: "paz-hetzner-http"),
                logger: Logger(label: "paz.driver.hetzner.http"))
            return CloudDriver(provider: .hetzner, settings: settings, http: http)
        }
    }
}
