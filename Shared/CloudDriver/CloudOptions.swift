import Foundation
package import PazDriverKit
package import PazGuestConfig
package import PazSchemas

/// A cloud driver's create options, parsed and checked — the same set for every provider. Every
/// option falls back to the CLI's environment variable `PAZ_<DRIVER>_<NAME>` (e.g.
/// `PAZ_DIGITALOCEAN_TOKEN`).
///
/// | option | type | default | |
/// |---|---|---|---|
/// | `token` | string, secret | required | the API token (read and write) |
/// | `endpoint` | string | the provider's API | another endpoint; the operator allows which |
/// | `region` | string | the provider's default | where servers run (`location` sets it too) |
/// | `size` | string | the provider's default | the server size / type (`size` sets it too) |
/// | `image` | string | the provider's default | the image slug or name (`image` sets it too) |
/// | `ssh-cidr` | string | required | the only source allowed to reach port 22 (the cluster's firewall) |
/// | `ssh-user` | string | `paz` | login user created at first boot |
/// | `authorized-key` | string | | an OpenSSH public key registered as the cluster's SSH key and authorized for `ssh-user`; without it a key is generated and its private half never kept (the provider then sends no root password) |
/// | `guest-config` | `cloud-init` \| `ignition-flatcar` \| `ignition-fcos` | by the image | |
/// | `ready-when` | `ssh` \| `running` | `ssh` | when create is done: SSH answers with the issued host key, or the provider says running |
/// | `boot-timeout` | integer 30–3600 | 600 | seconds from the create until `ready-when` holds |
package struct CloudOptions: Sendable, Hashable {
    package var token: CloudToken
    package var endpoint: String
    package var region: String
    package var size: String
    package var image: String
    package var sshCIDR: String
    package var sshUser: String
    package var authorizedKey: String?
    package var guestConfig: GuestConfigKind?
    package var readyWhen: ReadyWhen
    package var bootTimeout: Duration

    /// When a create (and start, restart) is done.
    package enum ReadyWhen: String, Sendable, Hashable, Codable {
        /// SSH answers with the issued host key and accepts a broker certificate.
        case ssh
        /// The provider reports the server running.
        case running
    }

    static let bootTimeoutRange = 30...3_600

    /// The specs `provider`'s driver announces.
    package static func specs(_ provider: CloudProvider) -> [CreateOptionSpec] {
        let driver = provider.name.rawValue
        func spec(
            _ name: String, _ type: CreateOptionSpec.ValueType, required: Bool = false, default value: JSONValue? = nil,
            in range: ClosedRange<Int>? = nil, _ description: String, secret: Bool = false
        ) -> CreateOptionSpec {
            .driverOption(driver, name, type, required: required, default: value, in: range, description, secret: secret)
        }
        return [
            spec("token", .string, required: true, "\(provider.displayName) API token (read and write)", secret: true),
            spec("endpoint", .string, "API endpoint URL (default \(provider.defaultEndpoint); the operator allows which endpoints)"),
            spec("region", .string, default: .string(provider.defaultRegion), "Region / location (location sets it too)"),
            spec("size", .string, default: .string(provider.defaultSize), "Server size (see paz-machine sizes \(driver))"),
            spec("image", .string, default: .string(provider.defaultImage), "Image slug or name (see paz-machine images \(driver))"),
            spec("ssh-cidr", .string, required: true, "The only source (CIDR) allowed to reach port 22, e.g. 203.0.113.0/24"),
            spec("ssh-user", .string, default: .string("paz"), "Login user created at first boot"),
            spec("authorized-key", .string,
                 "OpenSSH public key registered as the cluster's SSH key (default: a generated key whose private half is not kept)"),
            spec("guest-config", .string,
                 "cloud-init, ignition-flatcar or ignition-fcos (default: by the image, Ignition for Flatcar and Fedora CoreOS)"),
            spec("ready-when", .string, default: .string("ssh"),
                 "ssh: create ends when SSH answers with the issued host key; running: when \(provider.displayName) reports it running"),
            spec("boot-timeout", .integer, default: .number(600), in: bootTimeoutRange, "Seconds from the create until ready-when holds"),
        ]
    }

    /// Parses a create: its options, its secret options and its size/image/location fields.
    package init(_ request: MachineCreate, provider: CloudProvider, secrets: [String: String]) throws(DriverError) {
        try self.init(
            request.options, provider: provider, secrets: secrets, size: request.size, image: request.image,
            location: request.location)
    }

    /// Parses option values; errors name the option.
    package init(
        _ values: [String: JSONValue], provider: CloudProvider, secrets: [String: String], size: String? = nil,
        image: String? = nil, location: String? = nil
    ) throws(DriverError) {
        let options = CreateOptionValues(values)
        token = try CloudToken(secrets, driver: provider.name.rawValue)
        endpoint = try Self.endpoint(options.optionalString("endpoint") ?? provider.defaultEndpoint)
        region = try Self.word(location, else: "region", options, default: provider.defaultRegion)
        self.size = try Self.word(size, else: "size", options, default: provider.defaultSize)
        self.image = try Self.word(image, else: "image", options, default: provider.defaultImage)
        sshCIDR = try options.sshCIDR()
        sshUser = try options.loginUser()
        if let key = options.optionalString("authorized-key") {
            let fields = key.split(separator: " ")
            guard fields.count >= 2, fields[0].hasPrefix("ssh-") || fields[0].hasPrefix("ecdsa-"), !key.contains(where: \.isNewline),
                  Data(base64Encoded: String(fields[1])) != nil
            else {
                throw .invalidArgument(field: "authorized-key", message: "authorized-key must be one OpenSSH public key line (ssh-ed25519 AAAA…)")
            }
            authorizedKey = key
        } else {
            authorizedKey = nil
        }
        guestConfig = try GuestConfigKind(option: options)
        readyWhen = ReadyWhen(rawValue: try options.choice("ready-when", ["ssh", "running"], default: "ssh"))!
        bootTimeout = .seconds(try options.integer("boot-timeout", default: 600, in: Self.bootTimeoutRange))
    }

    /// An http(s) URL without query or fragment, trailing slash dropped.
    static func endpoint(_ text: String) throws(DriverError) -> String {
        guard let url = URL(string: text), ["http", "https"].contains(url.scheme?.lowercased() ?? ""), url.host != nil,
              url.query == nil, url.fragment == nil
        else {
            throw .invalidArgument(field: "endpoint", message: "endpoint '\(text)' is not an http:// or https:// URL")
        }
        return text.hasSuffix("/") ? String(text.dropLast()) : text
    }

    /// `given` (the create's own field), else the option `name` or its default: checked by ``word(_:field:)``.
    static func word(
        _ given: String?, else name: String, _ options: CreateOptionValues, default value: String
    ) throws(DriverError) -> String {
        if let given { return try word(given, field: name) }
        return try word(try options.string(name, default: value), field: name)
    }

    /// A slug, name or region: letters, digits, `.`, `_`, `-` (they end up in URLs and bodies).
    static func word(_ text: String, field: String) throws(DriverError) -> String {
        guard text.range(of: "^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", options: .regularExpression) != nil else {
            throw .invalidArgument(field: field, message: "\(field) '\(text)' is not a slug or name (letters, digits, '.', '_', '-')")
        }
        return text
    }
}

/// A provider API token, from the sealed secret options; never printed.
package struct CloudToken: Sendable, Hashable, CustomStringConvertible {
    package let value: String

    /// Reads the `token` secret option.
    package init(_ secrets: [String: String], driver: String) throws(DriverError) {
        guard let token = secrets["token"], !token.isEmpty else {
            throw .invalidArgument(
                field: "token", message: "token is required (a secret option; or PAZ_\(driver.uppercased())_TOKEN)")
        }
        guard !token.contains(where: { $0.isWhitespace || $0.isNewline }) else {
            throw .invalidArgument(field: "token", message: "token must not contain spaces or line breaks")
        }
        value = token
    }

    package var description: String { "CloudToken(redacted)" }
}
