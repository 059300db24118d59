import Foundation

/// A security group as EC2 describes it.
package struct EC2SecurityGroup: Sendable, Hashable {
    package var id: String
    package var name: String
    package var vpcId: String?
    package var tags: [EC2Tag]

    init(_ item: EC2XML) {
        id = item.text("groupId") ?? ""
        name = item.text("groupName") ?? ""
        vpcId = item.text("vpcId")
        tags = item.tags
    }
}

/// A key pair as EC2 describes it.
package struct EC2KeyPair: Sendable, Hashable {
    package var id: String?
    package var name: String
    package var tags: [EC2Tag]

    init(_ item: EC2XML) {
        id = item.text("keyPairId")
        name = item.text("keyName") ?? ""
        tags = item.tags
    }
}

/// A subnet: which VPC and zone it is in.
package struct EC2Subnet: Sendable, Hashable {
    package var id: String
    package var vpcId: String
    package var availabilityZone: String?
}

extension EC2Client {
    /// Security groups matching `filters`.
    package func securityGroups(_ filters: [EC2Filter]) async throws(EC2Error) -> [EC2SecurityGroup] {
        var query = EC2Query("DescribeSecurityGroups")
        query.add(filters: filters)
        return try await paginate(query, pageSize: 1000) { root in root.items("securityGroupInfo").map(EC2SecurityGroup.init) }
    }

    /// Creates a security group (no inbound rules yet) tagged with `tags`; returns its id.
    package func createSecurityGroup(name: String, description: String, vpcId: String?, tags: [EC2Tag]) async throws(EC2Error) -> String {
        var query = EC2Query("CreateSecurityGroup")
        query.add("GroupName", name)
        query.add("GroupDescription", description)
        if let vpcId { query.add("VpcId", vpcId) }
        query.add(tagSpecifications: ["security-group"], tags: tags)
        guard let id = try await call(query).text("groupId") else {
            throw .malformedResponse(action: "CreateSecurityGroup", "no groupId in the answer")
        }
        return id
    }

    /// Allows inbound TCP `port` from `cidr` (an existing identical rule is no error).
    package func allowInbound(groupId: String, port: Int, cidr: String) async throws(EC2Error) {
        var query = EC2Query("AuthorizeSecurityGroupIngress")
        query.add("GroupId", groupId)
        query.add("IpPermissions.1.IpProtocol", "tcp")
        query.add("IpPermissions.1.FromPort", "\(port)")
        query.add("IpPermissions.1.ToPort", "\(port)")
        query.add("IpPermissions.1.IpRanges.1.CidrIp", cidr)
        query.add("IpPermissions.1.IpRanges.1.Description", "SSH (paz-machine)")
        do throws(EC2Error) {
            _ = try await call(query)
        } catch where error.code == "InvalidPermission.Duplicate" {
            return
        }
    }

    /// Deletes a security group.
    package func deleteSecurityGroup(id: String) async throws(EC2Error) {
        var query = EC2Query("DeleteSecurityGroup")
        query.add("GroupId", id)
        _ = try await call(query)
    }

    /// Key pairs matching `filters`.
    package func keyPairs(_ filters: [EC2Filter]) async throws(EC2Error) -> [EC2KeyPair] {
        var query = EC2Query("DescribeKeyPairs")
        query.add(filters: filters)
        return try await call(query).items("keySet").map(EC2KeyPair.init)
    }

    /// Deletes a key pair by name.
    package func deleteKeyPair(name: String) async throws(EC2Error) {
        var query = EC2Query("DeleteKeyPair")
        query.add("KeyName", name)
        _ = try await call(query)
    }

    /// The subnet `id`.
    package func subnet(_ id: String) async throws(EC2Error) -> EC2Subnet {
        var query = EC2Query("DescribeSubnets")
        query.add(list: "SubnetId", [id])
        guard let item = try await call(query).items("subnetSet").first, let vpc = item.text("vpcId") else {
            throw .api(action: "DescribeSubnets", code: "InvalidSubnetID.NotFound", message: "The subnet ID '\(id)' does not exist",
                       status: 400, requestId: nil)
        }
        return EC2Subnet(id: id, vpcId: vpc, availabilityZone: item.text("availabilityZone"))
    }

    /// The region's default VPC id, nil when the account has none.
    package func defaultVpcId() async throws(EC2Error) -> String? {
        var query = EC2Query("DescribeVpcs")
        query.add(filters: [EC2Filter("is-default", ["true"])])
        return try await call(query).items("vpcSet").first?.text("vpcId")
    }
}
