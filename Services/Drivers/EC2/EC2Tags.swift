package import PazSchemas

/// The tags on everything the EC2 driver makes, so that removal (and a sweeper) finds it by tenant,
/// cluster and machine.
package enum EC2Tags {
    package static let tenant = "paz:tenant"
    package static let cluster = "paz:cluster"
    package static let machine = "paz:machine"

    /// Tags of a cluster-wide resource (the security group).
    package static func cluster(tenant: TenantID, cluster: ClusterID, name: String) -> [EC2Tag] {
        [EC2Tag(Self.tenant, tenant.rawValue), EC2Tag(Self.cluster, cluster.rawValue), EC2Tag("Name", "paz-\(name)")]
    }

    /// Tags of a machine's resources (instance, volumes).
    package static func machine(tenant: TenantID, _ request: MachineCreate) -> [EC2Tag] {
        [
            EC2Tag(Self.tenant, tenant.rawValue), EC2Tag(Self.cluster, request.clusterId.rawValue),
            EC2Tag(Self.machine, request.machineId.rawValue), EC2Tag("Name", request.machineName.rawValue),
        ]
    }

    /// Instances of `machine` that are not terminated (nor terminating).
    static func aliveInstances(of machine: MachineID) -> [EC2Filter] {
        [.tag(Self.machine, machine.rawValue), aliveStates]
    }

    /// Instances of `cluster` that are not terminated.
    static func clusterInstances(_ cluster: ClusterID, tenant: TenantID) -> [EC2Filter] {
        [.tag(Self.cluster, cluster.rawValue), .tag(Self.tenant, tenant.rawValue),
         EC2Filter("instance-state-name", ["pending", "running", "stopping", "stopped", "shutting-down"])]
    }

    private static let aliveStates = EC2Filter("instance-state-name", ["pending", "running", "stopping", "stopped"])
}
