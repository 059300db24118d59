import Foundation
package import PazDriverKit
import PazGuestConfig
package import PazSchemas

extension CloudDriver {
    // MARK: PreCreateCheck

    /// Token, size, image and region valid and the account's server limit not exceeded, for every
    /// account the machines use: what create checks before it makes anything.
    package func preCreateCheck(_ machines: [MachineCreate], context: DriverContext) async throws(DriverError) -> PreCreateCheckResult {
        let defaults = try await context.driverDefaults(name)
        var byAccount: [CloudAccount: [CloudOptions]] = [:]
        for machine in machines {
            let secrets = defaults.secrets.merging(try await context.secrets(for: machine.machineId)) { $1 }
            let options = try CloudOptions(machine, provider: provider, secrets: secrets)
            byAccount[CloudAccount(endpoint: options.endpoint, token: options.token), default: []].append(options)
        }
        for (account, options) in byAccount {
            let api = try api(account, context: context)
            for option in options {
                _ = try await check(option, machines: options.count, of: nil, account: account, api: api)
            }
        }
        return PreCreateCheckResult()
    }

    /// Checks `options` against the account's catalog (read at most once a minute) and `machines` more
    /// servers against its limit — the servers of `cluster` that exist already count as made, so every
    /// machine of a cluster create finds the same answer, and a cluster over the limit makes nothing.
    /// Returns the image.
    func check(
        _ options: CloudOptions, machines: Int, of cluster: CloudLabels?, account: CloudAccount, api: any CloudAPI
    ) async throws(DriverError) -> CloudImage {
        let catalog = try await catalogs.value(account) { () async throws(DriverError) in
            try await cloud { () async throws(CloudAPIError) in
                CloudCatalog(images: try await api.images(search: nil), sizes: try await api.sizes(), locations: try await api.locations())
            }
        }
        let driver = name.rawValue
        guard catalog.locations.contains(where: { $0.id == options.region }) else {
            throw .invalidArgument(field: "region", message: "region '\(options.region)' does not exist at \(provider.displayName) "
                + "(see paz-machine locations \(driver))")
        }
        guard let size = catalog.sizes.first(where: { $0.id == options.size }) else {
            throw .invalidArgument(field: "size", message: "size '\(options.size)' does not exist at \(provider.displayName) "
                + "(see paz-machine sizes \(driver))")
        }
        if case .array(let regions)? = size.extra["regions"], !regions.contains(.string(options.region)) {
            throw .invalidArgument(field: "size", message: "size '\(options.size)' is not offered in region '\(options.region)'")
        }
        guard let image = catalog.images.first(where: { $0.id == options.image || $0.name == options.image }) else {
            throw .invalidArgument(field: "image", message: "image '\(options.image)' does not exist at \(provider.displayName) "
                + "(see paz-machine images \(driver))")
        }
        let (limit, used) = try await cloud { () async throws(CloudAPIError) in try await api.serverLimit() }
        if let limit, used + machines > limit {
            var made = 0
            if let cluster, machines > 1 {
                made = try await cloud { () async throws(CloudAPIError) in try await api.servers(labelled: cluster).count }
            }
            if used - made + machines > limit {
                throw .invalidArgument(
                    field: nil,
                    message: "the \(provider.displayName) account may have \(limit) servers and has \(used): \(machines - made) more "
                        + "would exceed its limit; remove servers or ask \(provider.displayName) for a higher limit")
            }
        }
        return image
    }

    // MARK: Catalog

    package func images(_ query: CatalogImagesQuery, context: DriverContext) async throws(DriverError) -> [CatalogImage] {
        let api = try await catalogAPI(context: context)
        let found = try await cloud { () async throws(CloudAPIError) in try await api.images(search: query.search) }
        return found.map { image in
            var extra: [String: JSONValue] = ["guestConfig": .string(CloudProvider.guestConfig(of: image).rawValue)]
            if let distribution = image.distribution { extra["distribution"] = .string(distribution) }
            if let created = image.created { extra["created"] = .string(created) }
            return CatalogImage(id: image.id, name: image.name, extra: extra)
        }
    }

    package func sizes(_ query: CatalogSizesQuery, context: DriverContext) async throws(DriverError) -> [CatalogSize] {
        let api = try await catalogAPI(context: context)
        let sizes = try await cloud { () async throws(CloudAPIError) in try await api.sizes() }
        guard let location = query.location else { return sizes }
        return sizes.filter { size in
            guard case .array(let regions)? = size.extra["regions"] else { return true }
            return regions.contains(.string(location))
        }
    }

    package func locations(context: DriverContext) async throws(DriverError) -> [CatalogLocation] {
        let api = try await catalogAPI(context: context)
        return try await cloud { () async throws(CloudAPIError) in try await api.locations() }
    }

    /// The API of the tenant's stored defaults (catalog queries carry no options).
    private func catalogAPI(context: DriverContext) async throws(DriverError) -> any CloudAPI {
        let defaults = try await context.driverDefaults(name)
        let token: CloudToken
        do throws(DriverError) {
            token = try CloudToken(defaults.secrets, driver: name.rawValue)
        } catch {
            throw .invalidArgument(
                field: "token",
                message: "the \(name) catalog uses your stored driver defaults, which hold no token: store one with "
                    + "'paz-machine defaults \(name) --\(name)-token …'")
        }
        let endpoint = try CloudOptions.endpoint(CreateOptionValues(defaults.options).optionalString("endpoint") ?? provider.defaultEndpoint)
        return try api(CloudAccount(endpoint: endpoint, token: token), context: context)
    }
}
