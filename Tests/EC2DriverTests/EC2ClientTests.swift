import Foundation
import Logging
import PazDriverKit
@testable import PazEC2Driver
import PazHTTP
import PazLocalServers
import PazTestSupport
import Testing

/// ``EC2Client`` against moto with signature checking on, directly and behind the fault proxy.
struct EC2ClientTests {
    static func client(_ endpoint: String, region: String, credentials: AWSCredentials, attempts: Int = 4) throws -> EC2Client {
        var logger = Logger(label: "ec2-client-test")
        logger.logLevel = .warning
        let http = HTTPClient(configuration: .init(retry: .none, threadName: "ec2-client-test"), logger: logger)
        return EC2Client(
            endpoint: EC2Endpoint(url: endpoint, region: region), credentials: credentials, http: http,
            retry: RetryPolicy(maxAttempts: attempts, baseDelay: .milliseconds(10), maximumDelay: .milliseconds(50)), logger: logger)
    }

    static func credentials(_ moto: MotoServer) -> AWSCredentials {
        AWSCredentials(accessKeyId: moto.credentials.accessKeyID, secretAccessKey: moto.credentials.secretAccessKey)
    }

    @Test("signed by libcurl, moto accepts the calls; a wrong secret is AuthFailure, which tells the user to check the credentials")
    func signatures() async throws {
        let moto = try await TestMoto.shared()
        let good = try Self.client(moto.endpoint, region: moto.region, credentials: Self.credentials(moto))
        let regions = try await good.regions()
        #expect(regions.contains { $0.name == moto.region })
        let zones = try await good.availabilityZones()
        #expect(zones.contains { $0.name == moto.region + "a" })
        let types = try await good.instanceTypes(["t3.micro"])
        #expect(types.first?.vcpus == 2 && types.first?.memoryMiB == 1024)

        let wrong = try Self.client(
            moto.endpoint, region: moto.region,
            credentials: AWSCredentials(accessKeyId: moto.credentials.accessKeyID, secretAccessKey: "not-the-secret"))
        let error = await #expect(throws: EC2Error.self) { _ = try await wrong.regions() }
        #expect(error?.code == "AuthFailure")
        guard case .invalidCredentials(let message) = error?.driverError else {
            Issue.record("expected invalidCredentials, got \(String(describing: error?.driverError))")
            return
        }
        #expect(message.contains("secret-access-key"))
    }

    @Test("throttling and 5xx are retried, each attempt signed afresh; past the last attempt the error is providerUnavailable")
    func retries() async throws {
        let moto = try await TestMoto.shared()
        let proxy = try await EC2FaultProxy.start(inFrontOf: moto)
        defer { Task { await proxy.stop() } }
        let client = try Self.client(proxy.endpoint, region: moto.region, credentials: Self.credentials(moto), attempts: 4)

        try await proxy.schedule([
            .requestLimitExceeded(action: "DescribeRegions"), .throttling(action: "DescribeRegions"),
            .internalError(action: "DescribeRegions"),
        ])
        #expect(try await client.regions().contains { $0.name == moto.region })
        var statistics = try await proxy.statistics()
        #expect(statistics.faulted["DescribeRegions"] == 3 && statistics.forwarded["DescribeRegions"] == 1, "\(statistics)")

        try await proxy.schedule([.requestLimitExceeded(action: "DescribeAvailabilityZones", count: 5)])
        let error = await #expect(throws: EC2Error.self) { _ = try await client.availabilityZones() }
        #expect(error?.code == "RequestLimitExceeded")
        #expect(error?.driverError.isRetriable == true)
        statistics = try await proxy.statistics()
        #expect(statistics.faulted["DescribeAvailabilityZones"] == 4 && statistics.forwarded["DescribeAvailabilityZones"] == nil)

        // RunInstances is never repeated by the client: its caller looks for the instance first.
        try await proxy.schedule([.internalError(action: "RunInstances")])
        let launch = EC2Launch(
            imageId: "ami-1", instanceType: "t3.micro", clientToken: "tok", userData: Data(), securityGroupIds: [], subnetId: nil,
            availabilityZone: nil, rootVolume: nil, tags: [])
        await #expect(throws: EC2Error.self) { _ = try await client.run(launch) }
        #expect(try await proxy.statistics().seen["RunInstances"] == 1)
    }
}
