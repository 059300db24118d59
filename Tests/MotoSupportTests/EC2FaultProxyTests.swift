import Foundation
import PazLocalServers
import PazTestSupport
import Testing

@Suite("EC2 fault proxy: forwards signed requests unchanged, injects scheduled faults, counts")
struct EC2FaultProxyTests {
    @Test("a signed request passes through the proxy; a wrong secret is still refused by moto")
    func forwardsSignedRequests() async throws {
        let moto = try await TestMoto.shared()
        let proxy = try await EC2FaultProxy.start(inFrontOf: moto)
        let reply = try await moto.query("DescribeRegions", [("RegionName.1", "eu-west-1")], through: proxy.endpoint)
        #expect(reply.status == 200, "\(reply.body)")
        #expect(elements("regionName", in: reply.body) == ["eu-west-1"])
        let wrongSecret = MotoCredentials(accessKeyID: moto.credentials.accessKeyID, secretAccessKey: "wrong")
        let refused = try await moto.query("DescribeRegions", credentials: wrongSecret, through: proxy.endpoint)
        #expect(refused.status == 401)
        #expect(refused.errorCode == "AuthFailure")
        let statistics = try await proxy.statistics()
        #expect(statistics.seen == ["DescribeRegions": 2])
        #expect(statistics.forwarded == ["DescribeRegions": 2])
        #expect(statistics.faulted.isEmpty)
        await proxy.stop()
    }

    @Test("scheduled faults answer in order, only the action they name, and are counted")
    func injectsScheduledFaults() async throws {
        let moto = try await TestMoto.shared()
        let proxy = try await EC2FaultProxy.start(inFrontOf: moto)
        try await proxy.schedule([
            .requestLimitExceeded(action: "DescribeRegions", count: 2),
            .throttling(action: "DescribeRegions"),
            .internalError(action: "DescribeRegions"),
            .disconnect(action: "DescribeRegions"),
        ])
        var answers: [String] = []
        for _ in 0..<6 {
            let reply = try await moto.query("DescribeRegions", through: proxy.endpoint)
            answers.append(reply.curlStatus == 0 ? "\(reply.status) \(reply.errorCode ?? "ok")" : "curl \(reply.curlStatus)")
        }
        #expect(answers == [
            "503 RequestLimitExceeded", "503 RequestLimitExceeded", "400 Throttling", "500 InternalError", "curl 52", "200 ok",
        ])
        let untouched = try await moto.query("DescribeAvailabilityZones", through: proxy.endpoint)
        #expect(untouched.status == 200)
        let statistics = try await proxy.statistics()
        #expect(statistics.seen == ["DescribeRegions": 6, "DescribeAvailabilityZones": 1])
        #expect(statistics.faulted == ["DescribeRegions": 5])
        #expect(statistics.forwarded == ["DescribeRegions": 1, "DescribeAvailabilityZones": 1])
        #expect(statistics.pending == 0)

        try await proxy.schedule([.internalError(count: 3)])
        #expect(try await proxy.statistics().pending == 3)
        try await proxy.reset()
        let cleared = try await proxy.statistics()
        #expect(cleared.seen.isEmpty && cleared.forwarded.isEmpty && cleared.faulted.isEmpty && cleared.pending == 0)
        #expect(try await moto.query("DescribeRegions", through: proxy.endpoint).status == 200)
        await proxy.stop()
    }

    @Test("a fault after forwarding hides a RunInstances that took effect")
    func faultAfterForwarding() async throws {
        let moto = try await TestMoto.shared()
        let proxy = try await EC2FaultProxy.start(inFrontOf: moto)
        let machine = uniqueID("machine")
        try await proxy.schedule([.internalError(action: "RunInstances", timing: .afterForwarding)])
        let reply = try await moto.query("RunInstances", [
            ("ImageId", knownImage), ("InstanceType", "t3.micro"), ("MinCount", "1"), ("MaxCount", "1"),
        ] + tagSpecification(1, "instance", [("paz:machine", machine)]), through: proxy.endpoint)
        #expect(reply.status == 500)
        #expect(reply.errorCode == "InternalError")
        #expect(try await EC2Inventory.take(of: moto).instanceStates(ofMachine: machine) == ["running": 1])
        let statistics = try await proxy.statistics()
        #expect(statistics.forwarded == ["RunInstances": 1])
        #expect(statistics.faulted == ["RunInstances": 1])
        await proxy.stop()
    }
}
