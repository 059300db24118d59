import Foundation
package import PazDriverKit
import PazGuestConfig
package import PazSchemas

extension EC2Driver {
    // MARK: PreCreateCheck

    /// Each machine's image and its real `RunInstances` with `DryRun=true` (credentials, permissions,
    /// AMI, instance type, quota), nothing spent: the check create runs before it makes anything.
    package func preCreateCheck(_ machines: [MachineCreate], context: DriverContext) async throws(DriverError) -> PreCreateCheckResult {
        let defaults = try await context.driverDefaults(name)
        for machine in machines {
            let secrets = defaults.secrets.merging(try await context.secrets(for: machine.machineId)) { $1 }
            let options = try EC2Options(machine, secrets: secrets)
            let client = try client(options.endpoint, options.credentials, context: context)
            _ = try await checkedLaunch(machine, options: options, client: client, context: context)
        }
        return PreCreateCheckResult()
    }

    // MARK: Catalog

    package func images(_ query: CatalogImagesQuery, context: DriverContext) async throws(DriverError) -> [CatalogImage] {
        let (client, options) = try await catalogClient(location: query.location, context: context)
        let owners = options.optionalString("image-owner").map { [$0] } ?? ["self", "amazon"]
        var filters = [EC2Filter("state", ["available"])]
        if let search = query.search, !search.isEmpty { filters.append(EC2Filter("name", ["*\(search)*"])) }
        let found = try await ec2 { () async throws(EC2Error) in try await client.images(owners: owners, filters: filters) }
        return found.sorted { ($0.creationDate ?? "") > ($1.creationDate ?? "") }.prefix(Self.maxCatalogImages).map { image in
            var extra: [String: JSONValue] = [:]
            if let owner = image.ownerId { extra["owner"] = .string(owner) }
            if let architecture = image.architecture { extra["architecture"] = .string(architecture) }
            if let created = image.creationDate { extra["created"] = .string(created) }
            if let platform = image.platform { extra["platform"] = .string(platform) }
            extra["guestConfig"] = .string(Self.guestConfig(of: image).rawValue)
            return CatalogImage(id: image.id, name: image.name ?? image.id, extra: extra)
        }
    }

    /// At most this many images are listed (the newest).
    static let maxCatalogImages = 200

    package func sizes(_ query: CatalogSizesQuery, context: DriverContext) async throws(DriverError) -> [CatalogSize] {
        let (client, _) = try await catalogClient(location: query.location, context: context)
        let types = try await ec2 { () async throws(EC2Error) in try await client.instanceTypes() }
        return types.sorted { ($0.vcpus ?? 0, $0.memoryMiB ?? 0, $0.name) < ($1.vcpus ?? 0, $1.memoryMiB ?? 0, $1.name) }.map { type in
            CatalogSize(id: type.name, name: type.name, vcpus: type.vcpus, ramMiB: type.memoryMiB,
                        extra: type.architectures.isEmpty ? [:] : ["architectures": .array(type.architectures.map { .string($0) })])
        }
    }

    package func locations(context: DriverContext) async throws(DriverError) -> [CatalogLocation] {
        let (client, _) = try await catalogClient(location: nil, context: context)
        let regions = try await ec2 { () async throws(EC2Error) in try await client.regions() }
        let zones = try await ec2 { () async throws(EC2Error) in try await client.availabilityZones() }
        return regions.sorted { $0.name < $1.name }.map { CatalogLocation(id: $0.name, name: $0.name, extra: ["kind": "region"]) }
            + zones.sorted { $0.name < $1.name }.map {
                CatalogLocation(id: $0.name, name: $0.name, extra: ["kind": "zone", "region": .string($0.region)])
            }
    }

    /// A client from the tenant's stored defaults (catalog queries carry no options); `location`
    /// (a region or zone) overrides the default region.
    private func catalogClient(location: String?, context: DriverContext) async throws(DriverError) -> (EC2Client, CreateOptionValues) {
        let defaults = try await context.driverDefaults(name)
        let values = CreateOptionValues(defaults.options)
        var region = try values.string("region", default: "us-east-1")
        if let location { region = EC2Options.zoneRegion(location) ?? location }
        let credentials: EC2Credentials
        do throws(DriverError) {
            credentials = try EC2Credentials(defaults.secrets)
        } catch {
            throw .invalidArgument(
                field: "access-key-id",
                message: "the ec2 catalog uses your stored driver defaults, which hold no credentials: store access-key-id and "
                    + "secret-access-key with 'paz-machine defaults ec2 --ec2-access-key-id … --ec2-secret-access-key …'")
        }
        let endpoint = values.optionalString("endpoint").map { EC2Endpoint(url: $0, region: region) } ?? .aws(region: region)
        return (try client(endpoint, credentials, context: context), values)
    }
}
