package import Foundation
package import PazGuestConfig
package import PazSchemas

/// What ``CloudDriver`` needs to know of one provider: its names, defaults, limits and how to talk
/// to its API. A provider module defines one (`CloudProvider.digitalOcean`, `.hetzner`).
package struct CloudProvider: Sendable {
    /// The driver's name (`digitalocean`): its queue, options prefix and settings keys.
    package var name: ResourceName
    /// The provider's name in messages (`DigitalOcean`).
    package var displayName: String
    /// The provider's own API base URL (paths are appended).
    package var defaultEndpoint: String
    package var defaultRegion: String
    package var defaultSize: String
    package var defaultImage: String
    /// The largest user-data the provider accepts, in bytes.
    package var userDataLimit: Int
    /// Reads the provider's error body: its error code and message.
    package var parseError: @Sendable (_ status: Int, _ body: Data) -> (code: String?, message: String?)
    /// The provider's API over a client of one account.
    package var api: @Sendable (RESTClient) -> any CloudAPI

    package init(
        name: ResourceName, displayName: String, defaultEndpoint: String, defaultRegion: String, defaultSize: String,
        defaultImage: String, userDataLimit: Int,
        parseError: @escaping @Sendable (_ status: Int, _ body: Data) -> (code: String?, message: String?),
        api: @escaping @Sendable (RESTClient) -> any CloudAPI
    ) {
        self.name = name
        self.displayName = displayName
        self.defaultEndpoint = defaultEndpoint
        self.defaultRegion = defaultRegion
        self.defaultSize = defaultSize
        self.defaultImage = defaultImage
        self.userDataLimit = userDataLimit
        self.parseError = parseError
        self.api = api
    }

    /// Ignition for the CoreOS family (Flatcar, Fedora CoreOS), cloud-init for everything else.
    package static func guestConfig(of image: CloudImage) -> GuestConfigKind {
        let text = "\(image.id) \(image.name) \(image.distribution ?? "")".lowercased()
        if text.contains("flatcar") { return .ignitionFlatcar }
        if text.contains("coreos") { return .ignitionFedoraCoreOS }
        return .cloudInit
    }
}
