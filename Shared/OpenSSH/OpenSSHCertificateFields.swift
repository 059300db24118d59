import Crypto

extension OpenSSHCertificate {
    /// Whether a certificate identifies a user or a host (`SSH_CERT_TYPE_USER` = 1, `SSH_CERT_TYPE_HOST` = 2).
    package enum Kind: UInt32, Sendable, Hashable, CustomStringConvertible {
        case user = 1
        case host = 2

        package var description: String { self == .user ? "user" : "host" }
    }

    /// One critical option or extension: a name and its data field.
    ///
    /// Flags (`permit-pty`, …) have empty data; options with a value (`source-address`,
    /// `force-command`) hold the value as an SSH string inside the data, as OpenSSH encodes them.
    package struct Option: Sendable, Hashable, CustomStringConvertible {
        /// The option name, e.g. `source-address` or `permit-pty`.
        package let name: String
        /// The raw data field (empty for a flag).
        package let data: [UInt8]

        /// An option with raw `data`.
        package init(name: String, data: [UInt8]) {
            self.name = name
            self.data = data
        }

        /// A flag option (empty data), e.g. `permit-pty`.
        package static func flag(_ name: String) -> Option { Option(name: name, data: []) }

        /// An option whose data is the SSH string `value`, e.g. `source-address` = `10.0.0.0/8`.
        package static func string(_ name: String, _ value: String) -> Option {
            var writer = SSHWireWriter()
            writer.writeString(value)
            return Option(name: name, data: writer.bytes)
        }

        /// The value of a string option; nil for a flag or data that is not exactly one string.
        package var stringValue: String? {
            var reader = SSHWireReader(data, what: "option")
            guard !data.isEmpty, let value = try? reader.readText("value"), reader.isAtEnd else { return nil }
            return value
        }

        /// Critical option: accept the certificate only from these comma-separated CIDR addresses.
        package static func sourceAddress(_ addresses: String) -> Option { .string("source-address", addresses) }
        /// Critical option: run this command instead of the one the user asks for.
        package static func forceCommand(_ command: String) -> Option { .string("force-command", command) }
        /// Extension: allow a pseudo-terminal.
        package static let permitPTY = flag("permit-pty")
        /// Extension: allow port forwarding.
        package static let permitPortForwarding = flag("permit-port-forwarding")
        /// Extension: allow agent forwarding.
        package static let permitAgentForwarding = flag("permit-agent-forwarding")
        /// Extension: allow X11 forwarding.
        package static let permitX11Forwarding = flag("permit-X11-forwarding")
        /// Extension: allow running `~/.ssh/rc`.
        package static let permitUserRC = flag("permit-user-rc")
        /// The extensions `ssh-keygen -s` grants a user certificate by default.
        package static let defaultUserExtensions: [Option] = [
            permitX11Forwarding, permitAgentForwarding, permitPortForwarding, permitPTY, permitUserRC,
        ]

        /// `name`, or `name value` for a string option (as `ssh-keygen -L` lists them).
        package var description: String {
            if data.isEmpty { return name }
            return stringValue.map { "\(name) \($0)" } ?? "\(name) (\(data.count) bytes)"
        }
    }

    /// What a CA signs: everything in a certificate but the CA key and the signature.
    package struct Fields: Sendable, Hashable {
        /// User or host certificate.
        package var kind: Kind
        /// The certified key.
        package var publicKey: OpenSSHPublicKey
        /// Random bytes chosen by the CA (32 by default).
        package var nonce: [UInt8]
        /// The CA's serial number for the certificate (0 if it does not number them).
        package var serial: UInt64
        /// Free-form identity logged by sshd when the certificate is used.
        package var keyID: String
        /// User names (user certificates) or host names (host certificates); empty means any.
        package var principals: [String]
        /// Start of validity, seconds since 1970 (0: always).
        package var validAfter: UInt64
        /// End of validity (exclusive), seconds since 1970 (`UInt64.max`: forever).
        package var validBefore: UInt64
        /// Critical options; written sorted by name.
        package var criticalOptions: [Option]
        /// Extensions; written sorted by name.
        package var extensions: [Option]

        /// Fields for a certificate of `publicKey`; `nonce` defaults to 32 random bytes.
        package init(
            kind: Kind, publicKey: OpenSSHPublicKey, keyID: String, principals: [String],
            validAfter: UInt64, validBefore: UInt64, serial: UInt64 = 0,
            criticalOptions: [Option] = [], extensions: [Option] = [], nonce: [UInt8]? = nil
        ) {
            self.kind = kind
            self.publicKey = publicKey
            self.nonce = nonce ?? SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
            self.serial = serial
            self.keyID = keyID
            self.principals = principals
            self.validAfter = validAfter
            self.validBefore = validBefore
            self.criticalOptions = Self.sorted(criticalOptions)
            self.extensions = Self.sorted(extensions)
        }

        /// Options in the order OpenSSH requires: by name, compared bytewise (`permit-X11-…` first).
        static func sorted(_ options: [Option]) -> [Option] {
            options.sorted { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
        }
    }
}
