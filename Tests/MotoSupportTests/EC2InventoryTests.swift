import Foundation
import PazLocalServers
import PazTestSupport
import Testing

@Suite("EC2 inventory: every resource moto holds, by tag")
struct EC2InventoryTests {
    @Test("finds a tagged instance and a tagged security group, follows the instance to terminated, then sees nothing left")
    func taggedInstanceAndSecurityGroup() async throws {
        let moto = try await TestMoto.shared()
        let cluster = uniqueID("cluster")
        let machine = uniqueID("machine")
        let run = try await moto.query("RunInstances", [
            ("ImageId", knownImage), ("InstanceType", "t3.micro"), ("MinCount", "1"), ("MaxCount", "1"),
        ] + tagSpecification(1, "instance", [("paz:cluster", cluster), ("paz:machine", machine)]))
        #expect(run.status == 200, "\(run.body)")
        let instance = try #require(elements("instanceId", in: run.body).first)
        let group = try await moto.query(
            "CreateSecurityGroup",
            [("GroupName", "paz-\(cluster)"), ("GroupDescription", "cluster \(cluster)")]
                + tagSpecification(1, "security-group", [("paz:cluster", cluster)])
        )
        let groupID = try #require(elements("groupId", in: group.body).first, "\(group.body)")

        let inventory = try await EC2Inventory.take(of: moto)
        let found = inventory.resources(ofCluster: cluster)
        #expect(Set(found.map(\.id)) == [instance, groupID], "\(found)")
        #expect(found.first { $0.id == groupID }?.name == "paz-\(cluster)")
        #expect(found.first { $0.id == instance }?.tags == ["paz:cluster": cluster, "paz:machine": machine])
        #expect(inventory.instanceStates(ofMachine: machine) == ["running": 1])
        #expect(inventory.created.contains { $0.id == instance })
        #expect(inventory.resources.contains { $0.type == .vpc && $0.isDefault })
        #expect(!inventory.created.contains { $0.type == .vpc && $0.isDefault })

        #expect(try await moto.query("TerminateInstances", [("InstanceId.1", instance)]).status == 200)
        #expect(try await moto.query("DeleteSecurityGroup", [("GroupId", groupID)]).status == 200)
        let after = try await EC2Inventory.take(of: moto)
        #expect(after.instanceStates(ofMachine: machine) == ["terminated": 1])
        #expect(after.resources(ofCluster: cluster).map(\.id) == [instance])
        #expect(after.resources(ofCluster: cluster, includingTerminated: false).isEmpty)
    }

    @Test("lists key pairs and volumes with their tags, and only the regions asked for")
    func keyPairsVolumesAndRegions() async throws {
        let moto = try await TestMoto.shared()
        let cluster = uniqueID("cluster")
        let key = try await moto.query(
            "CreateKeyPair", [("KeyName", "paz-\(cluster)"), ("KeyType", "ed25519")]
                + tagSpecification(1, "key-pair", [("paz:cluster", cluster)])
        )
        #expect(key.status == 200, "\(key.body)")
        let volume = try await moto.query(
            "CreateVolume", [("AvailabilityZone", "\(moto.region)a"), ("Size", "1")]
                + tagSpecification(1, "volume", [("paz:cluster", cluster)])
        )
        #expect(volume.status == 200, "\(volume.body)")

        let inventory = try await EC2Inventory.take(of: moto)
        #expect(Set(inventory.resources(ofCluster: cluster).map(\.type)) == [.keyPair, .volume])
        let elsewhere = try await EC2Inventory.take(of: moto, regions: ["eu-west-1"])
        #expect(elsewhere.resources(ofCluster: cluster).isEmpty)
        #expect(elsewhere.resources.allSatisfy { $0.region == "eu-west-1" })
    }
}
