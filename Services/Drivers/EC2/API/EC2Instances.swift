package import Foundation

/// What EC2 says about one instance.
package struct EC2Instance: Sendable, Hashable {
    package var id: String
    /// `pending`, `running`, `shutting-down`, `terminated`, `stopping` or `stopped`.
    package var state: String
    package var instanceType: String?
    package var imageId: String?
    package var availabilityZone: String?
    package var privateIp: String?
    package var publicIp: String?
    package var launchTime: String?
    package var tags: [EC2Tag]

    init(_ item: EC2XML) {
        id = item.text("instanceId") ?? ""
        state = item.text("instanceState", "name") ?? item.text("currentState", "name") ?? "unknown"
        instanceType = item.text("instanceType")
        imageId = item.text("imageId")
        availabilityZone = item.text("placement", "availabilityZone")
        privateIp = item.text("privateIpAddress")
        publicIp = item.text("ipAddress")
        launchTime = item.text("launchTime")
        tags = item.tags
    }

    /// The value of tag `key`.
    package func tag(_ key: String) -> String? {
        tags.first { $0.key == key }?.value
    }

    /// Neither terminated nor on its way there.
    package var isAlive: Bool {
        state != "terminated" && state != "shutting-down"
    }
}

/// What `RunInstances` launches: one instance.
package struct EC2Launch: Sendable {
    package var imageId: String
    package var instanceType: String
    /// EC2's idempotency token (the machine id): a repeated RunInstances returns the first instance.
    package var clientToken: String
    /// Raw user-data (base64-encoded here).
    package var userData: Data
    package var securityGroupIds: [String]
    package var subnetId: String?
    package var availabilityZone: String?
    /// Root volume size and the image's root device name (both or neither).
    package var rootVolume: (device: String, gib: Int)?
    /// Tags put on the instance and its volumes at launch.
    package var tags: [EC2Tag]

    package init(
        imageId: String, instanceType: String, clientToken: String, userData: Data, securityGroupIds: [String],
        subnetId: String?, availabilityZone: String?, rootVolume: (device: String, gib: Int)?, tags: [EC2Tag]
    ) {
        self.availabilityZone = availabilityZone
        self.imageId = imageId
        self.instanceType = instanceType
        self.clientToken = clientToken
        self.userData = userData
        self.securityGroupIds = securityGroupIds
        self.subnetId = subnetId
        self.rootVolume = rootVolume
        self.tags = tags
    }

    /// The `RunInstances` query.
    package var query: EC2Query {
        var query = EC2Query("RunInstances")
        query.add("ImageId", imageId)
        query.add("InstanceType", instanceType)
        query.add("MinCount", "1")
        query.add("MaxCount", "1")
        query.add("ClientToken", clientToken)
        if !userData.isEmpty { query.add("UserData", userData.base64EncodedString()) }
        query.add(list: "SecurityGroupId", securityGroupIds)
        if let subnetId { query.add("SubnetId", subnetId) }
        if let availabilityZone { query.add("Placement.AvailabilityZone", availabilityZone) }
        if let rootVolume {
            query.add("BlockDeviceMapping.1.DeviceName", rootVolume.device)
            query.add("BlockDeviceMapping.1.Ebs.VolumeSize", "\(rootVolume.gib)")
            query.add("BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true")
        }
        query.add(tagSpecifications: ["instance", "volume"], tags: tags)
        return query
    }
}

extension EC2Client {
    /// Instances matching `filters` (every page).
    package func instances(_ filters: [EC2Filter]) async throws(EC2Error) -> [EC2Instance] {
        var query = EC2Query("DescribeInstances")
        query.add(filters: filters)
        return try await paginate(query, pageSize: 1000) { root in
            root.items("reservationSet").flatMap { $0.items("instancesSet") }.map(EC2Instance.init)
        }
    }

    /// Whether any instance matches `filters`, asking for the smallest pages EC2 allows (5) and
    /// stopping at the first one found: cheap however many instances match.
    package func anyInstance(_ filters: [EC2Filter]) async throws(EC2Error) -> Bool {
        var query = EC2Query("DescribeInstances")
        query.add(filters: filters)
        query.add("MaxResults", "5")
        var page = query
        for _ in 0..<100 {
            let root = try await call(page)
            if !root.items("reservationSet").flatMap({ $0.items("instancesSet") }).isEmpty { return true }
            guard let token = root.text("nextToken") else { return false }
            page = query
            page.add("NextToken", token)
        }
        throw .malformedResponse(action: "DescribeInstances", "more than 100 empty pages")
    }

    /// Launches one instance. Not retried here: the caller looks for an instance an earlier attempt
    /// made before sending it again.
    package func run(_ launch: EC2Launch) async throws(EC2Error) -> EC2Instance {
        let root = try await call(launch.query, retry: false)
        guard let item = root.items("instancesSet").first else {
            throw .malformedResponse(action: "RunInstances", "no instance in the answer")
        }
        return EC2Instance(item)
    }

    /// Terminates instances (terminating a terminated one is no error); returns each one's state
    /// before (`terminated` for one that was gone already).
    @discardableResult
    package func terminate(_ ids: [String]) async throws(EC2Error) -> [String: String] {
        var query = EC2Query("TerminateInstances")
        query.add(list: "InstanceId", ids)
        var previous: [String: String] = [:]
        for item in try await call(query).items("instancesSet") {
            if let id = item.text("instanceId") { previous[id] = item.text("previousState", "name") ?? "unknown" }
        }
        return previous
    }

    /// Starts stopped instances.
    package func start(_ ids: [String]) async throws(EC2Error) {
        try await stateChange("StartInstances", ids)
    }

    /// Stops instances; `force` skips the guest's orderly shutdown (a power cut).
    package func stop(_ ids: [String], force: Bool) async throws(EC2Error) {
        try await stateChange("StopInstances", ids, extra: force ? [("Force", "true")] : [])
    }

    /// Reboots instances (the guest's orderly reboot).
    package func reboot(_ ids: [String]) async throws(EC2Error) {
        try await stateChange("RebootInstances", ids)
    }

    private func stateChange(_ action: String, _ ids: [String], extra: [(String, String)] = []) async throws(EC2Error) {
        var query = EC2Query(action)
        query.add(list: "InstanceId", ids)
        for (name, value) in extra { query.add(name, value) }
        _ = try await call(query)
    }
}
