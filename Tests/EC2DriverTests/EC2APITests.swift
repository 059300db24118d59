import Foundation
import PazDriverKit
@testable import PazEC2Driver
import PazSchemas
import Testing

/// The EC2 query encoding and the reading of EC2's XML answers and errors, without a server.
struct EC2APITests {
    @Test("a query is form-encoded as AWS expects: unreserved characters kept, the rest %XX, lists and filters numbered")
    func queryEncoding() {
        var query = EC2Query("DescribeInstances")
        query.add(filters: [EC2Filter("tag:paz:machine", ["mch_1"]), EC2Filter("instance-state-name", ["running", "stopped"])])
        query.add("UserData", "a b+c/=~é")
        #expect(query.formBody == "Action=DescribeInstances&Version=2016-11-15"
            + "&Filter.1.Name=tag%3Apaz%3Amachine&Filter.1.Value.1=mch_1"
            + "&Filter.2.Name=instance-state-name&Filter.2.Value.1=running&Filter.2.Value.2=stopped"
            + "&UserData=a+b%2Bc%2F%3D~%C3%A9")
    }

    @Test("RunInstances carries one instance, the machine id as ClientToken, base64 user-data and tags on instance and volume")
    func runInstancesQuery() {
        let launch = EC2Launch(
            imageId: "ami-1", instanceType: "t3.micro", clientToken: "mch_abc", userData: Data("#cloud-config\n".utf8),
            securityGroupIds: ["sg-1"], subnetId: "subnet-1", availabilityZone: "us-east-1a", rootVolume: ("/dev/xvda", 20),
            tags: [EC2Tag("paz:machine", "mch_abc")])
        let fields = Dictionary(uniqueKeysWithValues: launch.query.parameters.map { ($0.name, $0.value) })
        #expect(fields["MinCount"] == "1" && fields["MaxCount"] == "1")
        #expect(fields["ClientToken"] == "mch_abc")
        #expect(fields["UserData"] == Data("#cloud-config\n".utf8).base64EncodedString())
        #expect(fields["SecurityGroupId.1"] == "sg-1")
        #expect(fields["Placement.AvailabilityZone"] == "us-east-1a")
        #expect(fields["BlockDeviceMapping.1.Ebs.VolumeSize"] == "20")
        #expect(fields["TagSpecification.1.ResourceType"] == "instance" && fields["TagSpecification.2.ResourceType"] == "volume")
        #expect(fields["TagSpecification.2.Tag.1.Key"] == "paz:machine" && fields["TagSpecification.2.Tag.1.Value"] == "mch_abc")
        #expect(fields["DryRun"] == nil)
    }

    @Test("a DescribeInstances answer is read: ids, states, addresses, zone, tags, the next page's token")
    func describeInstances() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/">
              <requestId>r-1</requestId>
              <reservationSet><item><reservationId>r-1</reservationId><instancesSet>
                <item><instanceId>i-1</instanceId><imageId>ami-1</imageId><instanceState><code>16</code><name>running</name></instanceState>
                  <privateIpAddress>10.0.0.5</privateIpAddress><ipAddress>54.0.0.5</ipAddress><instanceType>t3.micro</instanceType>
                  <placement><availabilityZone>us-east-1a</availabilityZone></placement>
                  <tagSet><item><key>paz:machine</key><value>mch_1</value></item><item><key>Name</key><value>web-1</value></item></tagSet>
                </item>
                <item><instanceId>i-2</instanceId><instanceState><code>80</code><name>stopped</name></instanceState></item>
              </instancesSet></item></reservationSet>
              <nextToken>page-2</nextToken>
            </DescribeInstancesResponse>
            """
        let root = try #require(EC2XML.parse(Data(xml.utf8)))
        let instances = root.items("reservationSet").flatMap { $0.items("instancesSet") }.map(EC2Instance.init)
        #expect(instances.map(\.id) == ["i-1", "i-2"])
        #expect(instances.map(\.state) == ["running", "stopped"])
        #expect(instances[0].publicIp == "54.0.0.5" && instances[0].privateIp == "10.0.0.5")
        #expect(instances[0].availabilityZone == "us-east-1a")
        #expect(instances[0].tag("paz:machine") == "mch_1")
        #expect(instances[1].publicIp == nil && instances[1].tags.isEmpty)
        #expect(root.text("nextToken") == "page-2")
        #expect(EC2Driver.state(of: "pending") == .starting && EC2Driver.state(of: "terminated") == .notFound)
    }

    @Test("EC2 error documents become typed errors a user can act on", arguments: [
        ("AuthFailure", 401, "invalidCredentials"),
        ("UnauthorizedOperation", 403, "invalidCredentials"),
        ("InvalidAMIID.NotFound", 400, "invalidArgument:ami"),
        ("InvalidAMIID.Malformed", 400, "invalidArgument:ami"),
        ("InvalidKeyPair.NotFound", 400, "invalidArgument:key-name"),
        ("InvalidSubnetID.NotFound", 400, "invalidArgument:subnet-id"),
        ("InsufficientInstanceCapacity", 500, "providerUnavailable"),
        ("InstanceLimitExceeded", 400, "conflict"),
        ("RequestLimitExceeded", 503, "providerUnavailable"),
        ("Throttling", 400, "providerUnavailable"),
        ("InternalError", 500, "providerUnavailable"),
        ("InvalidInstanceID.NotFound", 400, "notFound"),
        ("IncorrectInstanceState", 400, "conflict"),
    ])
    func errorMapping(code: String, status: Int, expected: String) {
        let body = "<Response><Errors><Error><Code>\(code)</Code><Message>it went wrong</Message></Error></Errors>"
            + "<RequestID>req-9</RequestID></Response>"
        let error = EC2Error.from(action: "RunInstances", status: status, body: Data(body.utf8))
        #expect(error == .api(action: "RunInstances", code: code, message: "it went wrong", status: status, requestId: "req-9"))
        let mapped: String = switch error.driverError {
        case .invalidCredentials: "invalidCredentials"
        case .invalidArgument(let field, _): "invalidArgument:\(field ?? "")"
        case .providerUnavailable: "providerUnavailable"
        case .conflict: "conflict"
        case .notFound: "notFound"
        default: "\(error.driverError)"
        }
        #expect(mapped == expected)
        #expect(error.driverError.description.contains(code) && error.driverError.description.contains("it went wrong"))
        #expect(error.isRetriable == (status >= 500 || ["RequestLimitExceeded", "Throttling"].contains(code)))
    }

    @Test("an answer that is not EC2's XML is a clear error; a bare 503 is retriable")
    func malformedAnswers() {
        #expect(EC2Error.from(action: "DescribeRegions", status: 400, body: Data("<html>nope".utf8))
            == .malformedResponse(action: "DescribeRegions", "HTTP 400: <html>nope"))
        let bare = EC2Error.from(action: "DescribeRegions", status: 503, body: Data())
        #expect(bare.isRetriable && bare.code == "ServiceUnavailable")
    }
}
