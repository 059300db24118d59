import Foundation
package import PazCloudDriver
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

/// `paz-driver-hetzner`: the cloud driver for Hetzner as a service (``CloudDriver/runService(_:)``).
package enum HetznerDriverService {
    package static func run() async throws {
        try await CloudDriver.runService(.hetzner)
    }
}
