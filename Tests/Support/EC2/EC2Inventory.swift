import Foundation
package import PazLocalServers

/// Every EC2 resource a ``MotoServer`` holds, with its tags — the independent check of no-leak tests.
///
/// Listed by `EC2/Scripts/ec2_inventory.py` with boto3 (never with the EC2 driver's code): signed
/// Describe* requests for instances in any state (terminated included), security groups, key pairs,
/// volumes, the account's snapshots and images, network interfaces, addresses, VPCs, subnets,
/// internet gateways, route tables, network ACLs, NAT gateways, launch templates and spot requests.
/// Tags are read from each resource's own description: moto's DescribeTags keeps the tags of deleted
/// resources. Takes about a second; ask for the regions the test used.
package struct EC2Inventory: Sendable {
    /// Everything found, in the order of the list above.
    package let resources: [EC2Resource]

    /// The tag key clusters are marked with.
    package static let clusterTag = "paz:cluster"
    /// The tag key machines are marked with.
    package static let machineTag = "paz:machine"

    /// Lists what `server` holds in `regions` (default: the server's region).
    package static func take(
        of server: MotoServer, regions: [String]? = nil, timeout: Duration = .seconds(120)
    ) async throws(EC2TestSupportError) -> EC2Inventory {
        let script = try HelperProcess.script("ec2_inventory.py")
        let regionArguments = (regions ?? [server.region]).flatMap { ["--region", $0] }
        let output = try await HelperProcess.run(
            "python3", { _ in ["-u", script, "--endpoint", server.endpoint] + regionArguments },
            environment: [
                "AWS_ACCESS_KEY_ID": server.credentials.accessKeyID,
                "AWS_SECRET_ACCESS_KEY": server.credentials.secretAccessKey,
                "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                "AWS_EC2_METADATA_DISABLED": "true",
            ],
            command: "ec2_inventory.py", timeout: timeout
        )
        guard output.status == 0 else {
            throw .processFailed(command: "ec2_inventory.py", status: output.status, errorOutput: String(output.errorOutput.suffix(2000)))
        }
        struct Listing: Decodable { let resources: [EC2Resource] }
        do {
            return EC2Inventory(resources: try JSONDecoder().decode(Listing.self, from: Data(output.standardOutput.utf8)).resources)
        } catch {
            throw .unreadableOutput(command: "ec2_inventory.py", reason: "\(error)")
        }
    }

    /// The resources a client created (not ``EC2Resource/isDefault``).
    package var created: [EC2Resource] {
        resources.filter { !$0.isDefault }
    }

    /// Resources carrying tag `key` = `value`. Without `includingTerminated`, leaves out terminated
    /// instances and the network interfaces still attached to them (AWS deletes those with the
    /// instance; moto keeps them, `in-use`): what remains is what a clean-up left behind.
    package func resources(taggedWith key: String, _ value: String, includingTerminated: Bool = true) -> [EC2Resource] {
        let tagged = resources.filter { $0.tags[key] == value }
        guard !includingTerminated else { return tagged }
        let terminated = Set(resources.filter { $0.type == .instance && $0.state == "terminated" }.map(\.id))
        return tagged.filter { resource in
            switch resource.type {
            case .instance: !terminated.contains(resource.id)
            case .networkInterface: !(resource.attachedInstanceID.map(terminated.contains) ?? false)
            default: true
            }
        }
    }

    /// Resources of cluster `id` (tag ``clusterTag``); see ``resources(taggedWith:_:includingTerminated:)``.
    package func resources(ofCluster id: String, includingTerminated: Bool = true) -> [EC2Resource] {
        resources(taggedWith: Self.clusterTag, id, includingTerminated: includingTerminated)
    }

    /// How many instances carry tag `key` = `value`, by state (`pending`, `running`, `stopped`,
    /// `terminated` …); states without instances are absent.
    package func instanceStates(taggedWith key: String, _ value: String) -> [String: Int] {
        var counts: [String: Int] = [:]
        for resource in resources where resource.type == .instance && resource.tags[key] == value {
            counts[resource.state ?? "unknown", default: 0] += 1
        }
        return counts
    }

    /// How many instances of machine `id` (tag ``machineTag``) there are, by state.
    package func instanceStates(ofMachine id: String) -> [String: Int] {
        instanceStates(taggedWith: Self.machineTag, id)
    }
}
