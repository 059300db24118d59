import Foundation

/// An AMI as EC2 describes it.
package struct EC2Image: Sendable, Hashable {
    package var id: String
    package var name: String?
    package var description: String?
    package var ownerId: String?
    package var architecture: String?
    package var rootDeviceName: String?
    package var creationDate: String?
    package var platform: String?
    package var state: String?

    init(_ item: EC2XML) {
        id = item.text("imageId") ?? ""
        name = item.text("name")
        description = item.text("description")
        ownerId = item.text("imageOwnerId") ?? item.text("ownerId")
        architecture = item.text("architecture")
        rootDeviceName = item.text("rootDeviceName")
        creationDate = item.text("creationDate")
        platform = item.text("platformDetails") ?? item.text("platform")
        state = item.text("imageState")
    }
}

/// An instance type: vCPUs and memory.
package struct EC2InstanceType: Sendable, Hashable {
    package var name: String
    package var vcpus: Int?
    package var memoryMiB: Int?
    package var architectures: [String]

    init(_ item: EC2XML) {
        name = item.text("instanceType") ?? ""
        vcpus = item.text("vCpuInfo", "defaultVCpus").flatMap { Int($0) }
        memoryMiB = item.text("memoryInfo", "sizeInMiB").flatMap { Int($0) }
        architectures = item.child("processorInfo")?.items("supportedArchitectures").compactMap { $0.text() } ?? []
    }
}

/// A region or an availability zone.
package struct EC2Place: Sendable, Hashable {
    package var name: String
    package var region: String
    package var state: String?
}

extension EC2Client {
    /// Images by id, or by owners and filters (e.g. `name` with `*` wildcards).
    package func images(ids: [String] = [], owners: [String] = [], filters: [EC2Filter] = []) async throws(EC2Error) -> [EC2Image] {
        var query = EC2Query("DescribeImages")
        query.add(list: "ImageId", ids)
        query.add(list: "Owner", owners)
        query.add(filters: filters)
        return try await call(query).items("imagesSet").map(EC2Image.init)
    }

    /// Instance types (all of them when `names` is empty; every page).
    package func instanceTypes(_ names: [String] = []) async throws(EC2Error) -> [EC2InstanceType] {
        var query = EC2Query("DescribeInstanceTypes")
        query.add(list: "InstanceType", names)
        return try await paginate(query, pageSize: names.isEmpty ? 100 : nil) { root in
            root.items("instanceTypeSet").map(EC2InstanceType.init)
        }
    }

    /// The regions the account may use.
    package func regions() async throws(EC2Error) -> [EC2Place] {
        try await call(EC2Query("DescribeRegions")).items("regionInfo").compactMap { item in
            item.text("regionName").map { EC2Place(name: $0, region: $0, state: item.text("optInStatus")) }
        }
    }

    /// The availability zones of the client's region.
    package func availabilityZones() async throws(EC2Error) -> [EC2Place] {
        try await call(EC2Query("DescribeAvailabilityZones")).items("availabilityZoneInfo").compactMap { item in
            item.text("zoneName").map { EC2Place(name: $0, region: item.text("regionName") ?? endpoint.region, state: item.text("zoneState")) }
        }
    }
}
