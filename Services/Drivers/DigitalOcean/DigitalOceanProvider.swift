import Foundation
package import PazCloudDriver
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

/// `paz-driver-digitalocean`: the cloud driver for DigitalOcean as a service (``CloudDriver/runService(_:)``).
package enum DigitalOceanDriverService {
    package static func run() async throws {
        try await CloudDriver.runService(.digitalOcean)
    }
}
