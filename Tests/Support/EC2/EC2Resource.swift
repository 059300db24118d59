/// The kinds of EC2 resource an ``EC2Inventory`` lists.
package enum EC2ResourceType: String, Sendable, Hashable, Decodable, CaseIterable {
    case instance
    case securityGroup = "security-group"
    case keyPair = "key-pair"
    case volume
    case snapshot
    case image
    case networkInterface = "network-interface"
    case address
    case vpc
    case subnet
    case internetGateway = "internet-gateway"
    case routeTable = "route-table"
    case networkACL = "network-acl"
    case natGateway = "nat-gateway"
    case launchTemplate = "launch-template"
    case spotInstanceRequest = "spot-instance-request"
}

/// One EC2 resource as moto describes it.
package struct EC2Resource: Sendable, Hashable, Decodable, CustomStringConvertible {
    /// The region it lives in.
    package var region: String
    package var type: EC2ResourceType
    /// Its id (`i-…`, `sg-…`, `key-…`; an address without allocation id: its public IP).
    package var id: String
    /// The name of a security group, key pair, image or launch template.
    package var name: String?
    /// Its state (`running`, `terminated`, `in-use`, `available` …) where the kind has one.
    package var state: String?
    package var tags: [String: String]
    /// Made by moto, not by a client: the default VPC and its subnets, default security groups and
    /// network ACLs, main route tables.
    package var isDefault: Bool
    /// The instance a volume or network interface is attached to.
    package var attachedInstanceID: String?

    private enum CodingKeys: String, CodingKey {
        case region, type, id, name, state, tags
        case isDefault = "default"
        case attachedInstanceID = "attachedTo"
    }

    package var description: String {
        "\(type.rawValue) \(id)" + (name.map { " '\($0)'" } ?? "") + (state.map { " (\($0))" } ?? "") + " tags \(tags)"
    }
}
