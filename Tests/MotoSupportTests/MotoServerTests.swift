import Foundation
import PazHTTP
import PazLocalServers
import PazTestSupport
import Testing

@Suite("moto: start, signature checking, reset, environment")
struct MotoServerTests {
    @Test("with signature checking on, a correctly signed request passes and a wrong secret or key gets 401 AuthFailure")
    func signatureChecking() async throws {
        let moto = try await TestMoto.shared()
        #expect(moto.checksSignatures)
        let signed = try await moto.query("DescribeRegions", [("RegionName.1", "eu-west-1")])
        #expect(signed.status == 200, "\(signed.body)")
        #expect(elements("regionName", in: signed.body) == ["eu-west-1"])

        let wrongSecret = MotoCredentials(accessKeyID: moto.credentials.accessKeyID, secretAccessKey: "wrong")
        let refused = try await moto.query("DescribeRegions", credentials: wrongSecret)
        #expect(refused.status == 401)
        #expect(refused.errorCode == "AuthFailure")

        let unknownKey = try await moto.query("DescribeRegions", credentials: .unchecked)
        #expect(unknownKey.status == 401)
        #expect(unknownKey.errorCode == "AuthFailure")
    }

    @Test("values moto must re-encode the same way pass its signature check: ':' '*' ' ' '~' and non-ASCII")
    func encodedValuesPassTheSignatureCheck() async throws {
        #expect(AWSQueryForm.encode([("Filter.1.Name", "tag:paz:machine"), ("Filter.1.Value.1", "a b*~é")])
            == "Filter.1.Name=tag%3Apaz%3Amachine&Filter.1.Value.1=a+b%2A~%C3%A9")
        let moto = try await TestMoto.shared()
        let reply = try await moto.query(
            "DescribeInstances", [("Filter.1.Name", "tag:paz:machine"), ("Filter.1.Value.1", "a b*~é")]
        )
        #expect(reply.status == 200, "\(reply.body)")
    }

    @Test("reset forgets every resource and keeps the credentials working")
    func resetKeepsCredentials() async throws {
        let moto = try await TestMoto.privateServer()
        let name = uniqueID("paz-reset")
        let created = try await moto.query("CreateSecurityGroup", [("GroupName", name), ("GroupDescription", "reset test")])
        #expect(created.status == 200, "\(created.body)")
        let credentials = moto.credentials

        try await moto.reset()
        #expect(moto.credentials == credentials)
        let gone = try await moto.query("DescribeSecurityGroups", [("GroupName.1", name)])
        #expect(gone.errorCode == "InvalidGroup.NotFound", "\(gone.body)")
        let wrongSecret = MotoCredentials(accessKeyID: credentials.accessKeyID, secretAccessKey: "wrong")
        #expect(try await moto.query("DescribeRegions", credentials: wrongSecret).status == 401)
        await moto.stop()
    }

    @Test("the IAM user may call only the allowed actions: others get 403 AccessDenied, DryRun included")
    func policyLimitsActions() async throws {
        let moto = try await TestMoto.privateServer(options: .init(authentication: .init(allowedActions: ["ec2:Describe*"])))
        #expect(try await moto.query("DescribeRegions").status == 200)
        let run: [(String, String)] = [("ImageId", knownImage), ("InstanceType", "t3.micro"), ("MinCount", "1"), ("MaxCount", "1")]
        for parameters in [run, run + [("DryRun", "true")]] {
            let refused = try await moto.query("RunInstances", parameters)
            #expect(refused.status == 403)
            #expect(refused.errorCode == "AccessDenied")
        }
        await moto.stop()
    }

    @Test("extra environment reaches moto: AMI validation refuses unknown AMIs, but DryRun still answers DryRunOperation")
    func environmentAndUncheckedSignatures() async throws {
        let moto = try await TestMoto.privateServer(options: .init(
            environment: ["MOTO_ENABLE_AMI_VALIDATION": "true"], authentication: nil
        ))
        #expect(!moto.checksSignatures)
        #expect(moto.credentials == .unchecked)
        let run: [(String, String)] = [("InstanceType", "t3.micro"), ("MinCount", "1"), ("MaxCount", "1")]

        let unknown = try await moto.query("RunInstances", [("ImageId", "ami-00000000")] + run)
        #expect(unknown.status == 400)
        #expect(unknown.errorCode == "InvalidAMIID.NotFound")
        let dryRun = try await moto.query("RunInstances", [("ImageId", "ami-00000000"), ("DryRun", "true")] + run)
        #expect(dryRun.status == 412)
        #expect(dryRun.errorCode == "DryRunOperation")
        let known = try await moto.query("RunInstances", [("ImageId", knownImage)] + run)
        #expect(known.status == 200, "\(known.body)")

        let anySecret = MotoCredentials(accessKeyID: "AKIAANYTHING", secretAccessKey: "anything")
        #expect(try await moto.query("DescribeRegions", credentials: anySecret).status == 200)

        await moto.stop()
        #expect(!LoopbackNetwork.canConnect(host: moto.host, port: moto.port))
    }
}
