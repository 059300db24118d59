import Foundation
package import PazDriverKit
package import PazGuestConfig
package import PazSchemas

/// The EC2 driver's create options, parsed and checked. Every option falls back to the CLI's
/// environment variable `PAZ_EC2_<NAME>` (e.g. `PAZ_EC2_SECRET_ACCESS_KEY`).
///
/// | option | type | default | |
/// |---|---|---|---|
/// | `access-key-id` | string, secret | required | IAM access key id |
/// | `secret-access-key` | string, secret | required | its secret |
/// | `session-token` | string, secret | | for temporary (STS) credentials |
/// | `region` | string | `us-east-1` | (`location` also sets it; a zone such as `us-east-1a` sets both) |
/// | `endpoint` | string | `https://ec2.<region>.amazonaws.com/` | another EC2-compatible endpoint; the operator allows which |
/// | `instance-type` | string | `t3.micro` | (`size` also sets it) |
/// | `ami` | string | | AMI id (`image` also sets it when it starts with `ami-`) |
/// | `image-name` | string | | image search instead of `ami`: name pattern (`*` wildcards), newest match (`image` also sets it) |
/// | `image-owner` | string | | owner of the searched image (account id, `amazon`, `self`) |
/// | `subnet-id` | string | | subnet to launch into (its VPC holds the security group) |
/// | `vpc-id` | string | the default VPC | VPC of the security group when no subnet is given |
/// | `root-volume-gib` | integer 1–16384 | the AMI's | size of the root volume |
/// | `ssh-cidr` | string | required | the only source allowed to reach port 22 (the cluster's security group) |
/// | `ssh-user` | string | `paz` | login user created at first boot |
/// | `guest-config` | `cloud-init` \| `ignition-flatcar` \| `ignition-fcos` | by the AMI's name: Flatcar / Fedora CoreOS get Ignition, others cloud-init | |
/// | `ready-when` | `ssh` \| `running` | `ssh` | when create is done: SSH answers with the issued host key, or EC2 says running |
/// | `ssh-address` | `public` \| `private` | `public` | which address SSH (and `ready-when=ssh`) uses |
/// | `boot-timeout` | integer 30–3600 | 600 | seconds from launch until `ready-when` holds |
package struct EC2Options: Sendable, Hashable {
    package var credentials: EC2Credentials
    package var endpoint: EC2Endpoint
    package var availabilityZone: String?
    package var instanceType: String
    package var image: ImageChoice
    package var subnetId: String?
    package var vpcId: String?
    package var rootVolumeGiB: Int?
    package var sshCIDR: String
    package var sshUser: String
    package var guestConfig: GuestConfigKind?
    package var readyWhen: ReadyWhen
    package var sshAddress: AddressKind
    package var bootTimeout: Duration

    /// How the AMI is chosen.
    package enum ImageChoice: Sendable, Hashable {
        case id(String)
        case search(name: String, owner: String?)
    }

    /// When a create (and start, restart) is done.
    package enum ReadyWhen: String, Sendable, Hashable, Codable {
        /// SSH answers with the issued host key and accepts a broker certificate.
        case ssh
        /// EC2 reports the instance running (for endpoints whose addresses nobody may contact).
        case running
    }

    /// Which of an instance's addresses SSH uses.
    package enum AddressKind: String, Sendable, Hashable, Codable {
        case `public`
        case `private`
    }

    static let rootVolumeRange = 1...16_384
    static let bootTimeoutRange = 30...3_600

    /// The specs announced in the registry.
    package static let specs: [CreateOptionSpec] = [
        spec("access-key-id", .string, required: true, "IAM access key id", secret: true),
        spec("secret-access-key", .string, required: true, "IAM secret access key", secret: true),
        spec("session-token", .string, "Session token of temporary (STS) credentials", secret: true),
        spec("region", .string, default: .string("us-east-1"), "AWS region (location sets it too; a zone like us-east-1a also picks the zone)"),
        spec("endpoint", .string, "EC2 endpoint URL (default AWS's for the region; the operator allows which endpoints)"),
        spec("instance-type", .string, default: .string("t3.micro"), "Instance type (size sets it too; see paz-machine sizes ec2)"),
        spec("ami", .string, "AMI id (image sets it too when it starts with ami-)"),
        spec("image-name", .string, "Image search instead of ami: a name pattern with * wildcards; the newest match is used"),
        spec("image-owner", .string, "Owner of the searched image: an account id, amazon or self"),
        spec("subnet-id", .string, "Subnet to launch into (the security group goes into its VPC)"),
        spec("vpc-id", .string, "VPC of the cluster's security group when no subnet is given (default: the default VPC)"),
        spec("root-volume-gib", .integer, in: rootVolumeRange, "Root volume size in GiB (default: the AMI's)"),
        spec("ssh-cidr", .string, required: true, "The only source (CIDR) allowed to reach port 22, e.g. 203.0.113.0/24"),
        spec("ssh-user", .string, default: .string("paz"), "Login user created at first boot"),
        spec("guest-config", .string,
             "cloud-init, ignition-flatcar or ignition-fcos (default: by the AMI's name, Ignition for Flatcar and Fedora CoreOS)"),
        spec("ready-when", .string, default: .string("ssh"),
             "ssh: create ends when SSH answers with the issued host key; running: when EC2 reports the instance running"),
        spec("ssh-address", .string, default: .string("public"), "public or private: the address SSH uses"),
        spec("boot-timeout", .integer, default: .number(600), in: bootTimeoutRange, "Seconds from launch until ready-when holds"),
    ]

    private static func spec(
        _ name: String, _ type: CreateOptionSpec.ValueType, required: Bool = false, default value: JSONValue? = nil,
        in range: ClosedRange<Int>? = nil, _ description: String, secret: Bool = false
    ) -> CreateOptionSpec {
        .driverOption("ec2", name, type, required: required, default: value, in: range, description, secret: secret)
    }

    /// Parses a create: its options, its secret options and its size/image/location fields.
    package init(_ request: MachineCreate, secrets: [String: String]) throws(DriverError) {
        try self.init(request.options, secrets: secrets, size: request.size, image: request.image, location: request.location)
    }

    /// Parses option values; errors name the option.
    package init(
        _ values: [String: JSONValue], secrets: [String: String], size: String? = nil, image: String? = nil, location: String? = nil
    ) throws(DriverError) {
        let options = CreateOptionValues(values)
        credentials = try EC2Credentials(secrets)
        var region = try options.string("region", default: "us-east-1")
        if let location {
            if let zone = Self.zoneRegion(location) {
                region = zone
                availabilityZone = location
            } else {
                region = location
            }
        }
        guard region.range(of: "^[a-z]{2}(-[a-z]+)+-[0-9]+$", options: .regularExpression) != nil else {
            throw .invalidArgument(field: "region", message: "region '\(region)' is not an AWS region name such as us-east-1")
        }
        if let url = options.optionalString("endpoint") {
            guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
                throw .invalidArgument(field: "endpoint", message: "endpoint '\(url)' is not an http:// or https:// URL")
            }
            endpoint = EC2Endpoint(url: url, region: region)
        } else {
            endpoint = .aws(region: region)
        }
        if let size {
            instanceType = size
        } else {
            instanceType = try options.string("instance-type", default: "t3.micro")
        }
        if let ami = options.optionalString("ami") ?? image.flatMap({ $0.hasPrefix("ami-") ? $0 : nil }) {
            self.image = .id(ami)
        } else if let name = options.optionalString("image-name") ?? image {
            self.image = .search(name: name, owner: options.optionalString("image-owner"))
        } else {
            throw .invalidArgument(field: "ami", message: "ami or image-name is required (or image): which image to launch")
        }
        subnetId = options.optionalString("subnet-id")
        vpcId = options.optionalString("vpc-id")
        rootVolumeGiB = try options.integer("root-volume-gib", default: nil, in: Self.rootVolumeRange)
        sshCIDR = try options.sshCIDR()
        sshUser = try options.loginUser()
        guestConfig = try GuestConfigKind(option: options)
        readyWhen = ReadyWhen(rawValue: try options.choice("ready-when", ["ssh", "running"], default: "ssh"))!
        sshAddress = AddressKind(rawValue: try options.choice("ssh-address", ["public", "private"], default: "public"))!
        bootTimeout = .seconds(try options.integer("boot-timeout", default: 600, in: Self.bootTimeoutRange))
    }

    /// The region of an availability zone name (`us-east-1a` → `us-east-1`), nil for anything else.
    static func zoneRegion(_ name: String) -> String? {
        guard name.range(of: "^[a-z]{2}(-[a-z]+)+-[0-9]+[a-z]$", options: .regularExpression) != nil else { return nil }
        return String(name.dropLast())
    }
}

/// An account's credentials, from the sealed secret options.
package struct EC2Credentials: Sendable, Hashable, CustomStringConvertible {
    package var accessKeyId: String
    package var secretAccessKey: String
    package var sessionToken: String?

    /// Reads `access-key-id`, `secret-access-key` and `session-token`.
    package init(_ secrets: [String: String]) throws(DriverError) {
        guard let id = secrets["access-key-id"], !id.isEmpty else {
            throw .invalidArgument(field: "access-key-id", message: "access-key-id is required (a secret option; or PAZ_EC2_ACCESS_KEY_ID)")
        }
        guard let secret = secrets["secret-access-key"], !secret.isEmpty else {
            throw .invalidArgument(
                field: "secret-access-key", message: "secret-access-key is required (a secret option; or PAZ_EC2_SECRET_ACCESS_KEY)")
        }
        accessKeyId = id
        secretAccessKey = secret
        sessionToken = secrets["session-token"].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The key id only.
    package var description: String { "EC2Credentials(\(accessKeyId), secret redacted)" }
}
