import Foundation
import PazDriverKit
import PazGuestConfig
@testable import PazEC2Driver
import PazHTTP
import PazSchemas
import Testing

/// The create options and the operator's settings.
struct EC2OptionsTests {
    static let secrets = ["access-key-id": "AKIDTEST", "secret-access-key": "s3cr3t"]

    @Test("defaults: us-east-1 at AWS's endpoint, t3.micro, ssh readiness on the public address; size/image/location fill in")
    func defaults() throws {
        let options = try EC2Options(["ssh-cidr": "203.0.113.0/24", "ami": "ami-1"], secrets: Self.secrets)
        #expect(options.endpoint == EC2Endpoint(url: "https://ec2.us-east-1.amazonaws.com/", region: "us-east-1"))
        #expect(options.instanceType == "t3.micro" && options.image == .id("ami-1"))
        #expect(options.readyWhen == .ssh && options.sshAddress == .public && options.sshUser == "paz")
        #expect(options.bootTimeout == .seconds(600) && options.credentials.sessionToken == nil)

        let fields = try EC2Options(["ssh-cidr": "10.0.0.0/8"], secrets: Self.secrets, size: "m5.large", image: "ami-2",
                                    location: "eu-west-1b")
        #expect(fields.instanceType == "m5.large" && fields.image == .id("ami-2"))
        #expect(fields.endpoint.region == "eu-west-1" && fields.availabilityZone == "eu-west-1b")
        let search = try EC2Options(["ssh-cidr": "10.0.0.0/8", "image-owner": "amazon"], secrets: Self.secrets, image: "debian-12-*")
        #expect(search.image == .search(name: "debian-12-*", owner: "amazon"))
        #expect(!"\(options.credentials)".contains("s3cr3t"))
    }

    @Test("bad options are refused naming the option", arguments: [
        (["ami": "ami-1"], [String: String]?.none, "ssh-cidr"),
        (["ami": "ami-1", "ssh-cidr": "203.0.113.0/33"], nil, "ssh-cidr"),
        (["ami": "ami-1", "ssh-cidr": "300.0.113.0/24"], nil, "ssh-cidr"),
        (["ssh-cidr": "203.0.113.0/24"], nil, "ami"),
        (["ami": "ami-1", "ssh-cidr": "203.0.113.0/24", "region": "mars"], nil, "region"),
        (["ami": "ami-1", "ssh-cidr": "203.0.113.0/24", "endpoint": "ftp://x"], nil, "endpoint"),
        (["ami": "ami-1", "ssh-cidr": "203.0.113.0/24", "ready-when": "soon"], nil, "ready-when"),
        (["ami": "ami-1", "ssh-cidr": "203.0.113.0/24", "ssh-user": "root"], nil, "ssh-user"),
        (["ami": "ami-1", "ssh-cidr": "203.0.113.0/24", "guest-config": "kickstart"], nil, "guest-config"),
        (["ami": "ami-1", "ssh-cidr": "203.0.113.0/24"], ["access-key-id": "AKID"], "secret-access-key"),
        (["ami": "ami-1", "ssh-cidr": "203.0.113.0/24"], [:], "access-key-id"),
    ])
    func refused(values: [String: String], secrets: [String: String]?, field: String) {
        let error = #expect(throws: DriverError.self) {
            try EC2Options(values.mapValues { JSONValue.string($0) }, secrets: secrets ?? Self.secrets)
        }
        guard case .invalidArgument(let named, let message) = error else {
            Issue.record("expected invalidArgument, got \(String(describing: error))")
            return
        }
        #expect(named == field)
        #expect(message.contains(field))
    }

    @Test("the operator decides the endpoints: AWS's own unless switched off, others only by prefix")
    func endpointPolicy() throws {
        let aws = EC2Endpoint.aws(region: "eu-central-1")
        try EC2Settings().check(aws)
        #expect(throws: DriverError.self) { try EC2Settings().check(EC2Endpoint(url: "http://127.0.0.1:5000/", region: "us-east-1")) }
        let local = EC2Settings(awsEndpoints: false, endpointPrefixes: [try #require(URLPrefix("http://127.0.0.1:5000"))])
        try local.check(EC2Endpoint(url: "http://127.0.0.1:5000", region: "us-east-1"))
        let refused = #expect(throws: DriverError.self) { try local.check(aws) }
        #expect(refused?.description.contains("EC2_AWS_ENDPOINTS") == true)
        #expect(throws: DriverError.self) { try local.check(EC2Endpoint(url: "http://127.0.0.1:5001", region: "us-east-1")) }
        #expect(throws: DriverError.self) { try local.check(EC2Endpoint(url: "http://127.0.0.1:5000.evil.example", region: "us-east-1")) }
    }

    @Test("Flatcar and Fedora CoreOS AMIs get Ignition, everything else cloud-init")
    func guestConfigChoice() throws {
        func image(_ name: String) throws -> EC2Image {
            let xml = "<item><imageId>ami-1</imageId><name>\(name)</name></item>"
            return EC2Image(try #require(EC2XML.parse(Data(xml.utf8))))
        }
        #expect(EC2Driver.guestConfig(of: try image("Flatcar-stable-3975.2.0-hvm")) == .ignitionFlatcar)
        #expect(EC2Driver.guestConfig(of: try image("fedora-coreos-40.20240416.3.1-x86_64")) == .ignitionFedoraCoreOS)
        #expect(EC2Driver.guestConfig(of: try image("debian-12-amd64-20240717-1811")) == .cloudInit)
    }
}
