import Foundation
import Logging
package import PazCloudDriver
import PazDriverKit
import PazHTTP
import PazSchemas

extension CloudProvider {
    /// DigitalOcean API v2 (`https://api.digitalocean.com`): droplets, droplet actions, account SSH
    /// keys, cloud firewalls and tags. User data up to 64 KiB.
    package static let digitalOcean = CloudProvider(
        name: "digitalocean", displayName: "DigitalOcean", defaultEndpoint: "https://api.digitalocean.com",
        defaultRegion: "nyc3", defaultSize: "s-1vcpu-1gb", defaultImage: "debian-12-x64", userDataLimit: 64 * 1024,
        parseError: { _, body in
            let error = try? JSONDecoder().decode(DigitalOcean.ErrorBody.self, from: body)
            return (error?.id, error?.message)
        },
        api: { DigitalOceanAPI(rest: $0) })
}

/// `paz-driver-digitalocean`: bootstraps the service kit and runs the driver kit's consumer loop
/// with the cloud driver for DigitalOcean (settings: ``CloudSettings``, keys `digitalocean.*`).
package enum DigitalOceanDriverService {
    package static func run() async throws {
        try await DriverServiceMain.run(defaultServiceName: "driver-digitalocean", defaultPrefetch: CloudSettings.defaultPrefetch) { reader in
            let settings = try CloudSettings(driver: "digitalocean", reader: reader)
            let http = try HTTPClient(
                configuration: .init(connectTimeout: .seconds(10), totalTimeout: .seconds(60), retry: .none,
                                     threadName: "paz-digitalocean-http"),
                logger: Logger(label: "paz.driver.digitalocean.http"))
            return CloudDriver(provider: .digitalOcean, settings: settings, http: http)
        }
    }
}
