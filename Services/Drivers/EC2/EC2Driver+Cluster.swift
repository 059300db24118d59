import Foundation
import Logging
import PazCloudDriver
import PazDriverKit
import PazSchemas

/// One cluster at one endpoint: the key of its security group.
struct ClusterGroupKey: Hashable, Sendable {
    var endpoint: EC2Endpoint
    var tenant: TenantID
    var cluster: ClusterID
}

extension EC2Driver {
    /// Finds the cluster's security group in the launch's VPC, or makes it: tagged, and inbound
    /// only TCP 22 from `ssh-cidr`.
    func makeGroup(
        _ request: MachineCreate, options: EC2Options, client: EC2Client, context: DriverContext
    ) async throws(DriverError) -> String {
        let vpc: String?
        if let subnet = options.subnetId {
            vpc = try await ec2 { () async throws(EC2Error) in try await client.subnet(subnet).vpcId }
        } else if let given = options.vpcId {
            vpc = given
        } else {
            vpc = try await ec2 { () async throws(EC2Error) in try await client.defaultVpcId() }
        }
        let name = Self.groupName(request.clusterId)
        var filters = [EC2Filter("group-name", [name]), EC2Filter.tag(EC2Tags.cluster, request.clusterId.rawValue)]
        if let vpc { filters.append(EC2Filter("vpc-id", [vpc])) }
        let findFilters = filters
        let existing = try await ec2 { () async throws(EC2Error) in try await client.securityGroups(findFilters) }
        let id: String
        if let group = existing.first {
            id = group.id
        } else {
            do throws(EC2Error) {
                id = try await client.createSecurityGroup(
                    name: name, description: "paz-machine cluster \(request.clusterName.rawValue): SSH from \(options.sshCIDR) only",
                    vpcId: vpc, tags: EC2Tags.cluster(tenant: context.tenant, cluster: request.clusterId, name: request.clusterName.rawValue))
            } catch where error.code == "InvalidGroup.Duplicate" {
                // Another replica made it first.
                guard let group = try await ec2({ () async throws(EC2Error) in try await client.securityGroups(findFilters) }).first else {
                    throw error.driverError
                }
                id = group.id
            } catch {
                throw error.driverError
            }
        }
        try await ec2 { () async throws(EC2Error) in try await client.allowInbound(groupId: id, port: 22, cidr: options.sshCIDR) }
        return id
    }

    /// The security group name of a cluster (unique: cluster ids are).
    static func groupName(_ cluster: ClusterID) -> String {
        "paz-\(cluster.rawValue)"
    }

    /// Removes the cluster's security groups and key pairs once none of its instances is left (an
    /// instance still shutting down keeps them: its own removal comes back here). A group EC2 still
    /// sees in use (`DependencyViolation`: network interfaces detach a little after termination) is
    /// tried again for up to a minute.
    func removeClusterResourcesIfUnused(_ cluster: ClusterID, client: EC2Client, context: DriverContext) async throws(DriverError) -> [String] {
        let left = try await ec2 { () async throws(EC2Error) in
            try await client.anyInstance(EC2Tags.clusterInstances(cluster, tenant: context.tenant))
        }
        guard !left else { return [] }
        await groups.forget(ClusterGroupKey(endpoint: client.endpoint, tenant: context.tenant, cluster: cluster))
        let tagged = [EC2Filter.tag(EC2Tags.cluster, cluster.rawValue), EC2Filter.tag(EC2Tags.tenant, context.tenant.rawValue)]
        var removed: [String] = []
        let securityGroups = try await ec2 { () async throws(EC2Error) in try await client.securityGroups(tagged) }
        for group in securityGroups {
            try await deleteGroup(group.id, client: client)
            removed.append("security-group:\(group.id)")
        }
        let keys = try await ec2 { () async throws(EC2Error) in try await client.keyPairs(tagged) }
        for key in keys {
            do throws(EC2Error) {
                try await client.deleteKeyPair(name: key.name)
            } catch where error.isNotFound {
                continue
            } catch {
                throw error.driverError
            }
            removed.append("key-pair:\(key.name)")
        }
        if !removed.isEmpty {
            context.logger.info("removed the cluster's resources", metadata: ["removed": "\(removed.joined(separator: ","))"])
        }
        return removed
    }

    private func deleteGroup(_ id: String, client: EC2Client) async throws(DriverError) {
        let deadline = ContinuousClock.now + .seconds(60)
        while true {
            do throws(EC2Error) {
                try await client.deleteSecurityGroup(id: id)
                return
            } catch where error.isNotFound {
                return
            } catch where error.code == "DependencyViolation" && ContinuousClock.now < deadline {
                do {
                    try await Task.sleep(for: .seconds(2))
                } catch {
                    throw .timeout("removing security group \(id) was cancelled")
                }
            } catch {
                throw error.driverError
            }
        }
    }
}
