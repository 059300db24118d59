import Foundation
import Logging
import PazDriverKit
@testable import PazEC2Driver
import PazHTTP
import PazLocalServers
import PazRedis
import PazSchemas
import PazSecrets
import PazStore
import PazTestSupport
import Testing

/// ``EC2Driver/states(of:context:)``: one `DescribeInstances` for all the machines of an account.
struct EC2StatesTests {
    @Test("the states of many machines come from ONE DescribeInstances, mapped to the common states")
    func batched() async throws {
        let moto = try await TestMoto.shared()
        let proxy = try await EC2FaultProxy.start(inFrontOf: moto)
        defer { Task { await proxy.stop() } }
        let redis = try await TestRedis.shared()
        let store = Store(redis: RedisClient(configuration: RedisConfiguration(host: redis.host, port: redis.port)),
                          secretBox: SecretBox(masterKey: try MasterKey(bytes: Array(repeating: 7, count: 32))))
        let context = DriverContext(tenant: try TenantID("tnt_\(ULID.make().lowercased())"), operationId: nil,
                                    logger: Logger(label: "test.ec2.states"), store: store)
        let endpoint = EC2Endpoint(url: proxy.endpoint, region: moto.region)
        let client = try EC2ClientTests.client(moto.endpoint, region: moto.region, credentials: EC2ClientTests.credentials(moto))
        let ami = try #require(try await client.images(owners: ["amazon"]).first?.id)
        let cluster = ClusterID.random()

        var machines: [MachineRef] = []
        var instances: [String] = []
        for _ in 0..<5 {
            let machine = MachineRef(clusterId: cluster, machineId: .random())
            let instance = try await client.run(EC2Launch(
                imageId: ami, instanceType: "t3.micro", clientToken: machine.machineId.rawValue, userData: Data(), securityGroupIds: [],
                subnetId: nil, availabilityZone: nil, rootVolume: nil, tags: [EC2Tag(EC2Tags.machine, machine.machineId.rawValue)]))
            try await store.putSecrets(
                ["access-key-id": moto.credentials.accessKeyID, "secret-access-key": moto.credentials.secretAccessKey],
                tenant: context.tenant, machine: machine.machineId)
            try await context.saveDriverData(EC2MachineData(
                endpoint: endpoint, instanceId: instance.id, securityGroupId: "sg-none", machineName: "m", user: "paz",
                hostPublicKey: "ssh-ed25519 AAAA", readyWhen: .running, sshAddress: .public, bootTimeoutSeconds: 60,
                instanceType: "t3.micro", imageId: ami), version: EC2MachineData.version, for: machine.machineId)
            machines.append(machine)
            instances.append(instance.id)
        }
        try await client.stop([instances[1]], force: true)
        try await client.terminate([instances[2]])
        let unrecorded = MachineRef(clusterId: cluster, machineId: .random())

        let driver = EC2Driver(
            settings: EC2Settings(awsEndpoints: false, endpointPrefixes: [try #require(URLPrefix(proxy.endpoint))]),
            http: HTTPClient(configuration: .init(retry: .none), logger: Logger(label: "test.ec2.http")))
        let states = try await driver.states(of: machines + [unrecorded], context: context)
        #expect(states[machines[0]]?.state == .running)
        #expect(states[machines[1]]?.state == .stopped)
        #expect(states[machines[2]]?.state == .notFound)
        #expect(states[machines[3]]?.state == .running && states[machines[4]]?.state == .running)
        #expect(states[unrecorded]?.state == .notFound)
        #expect(try await proxy.statistics().seen == ["DescribeInstances": 1])
        try await client.terminate(instances)
    }
}
