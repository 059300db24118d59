package import Configuration
import Foundation
package import PazServiceKit

/// Which machine addresses a driver may connect to over SSH: an operator setting, so that a tenant
/// cannot point it at the driver host's own services (loopback) or at cloud metadata (link-local), and
/// so that a driver never connects to an address a provider (or a simulator) invents outside the
/// operator's ranges. The generic driver checks its `ip-address` option; the EC2 driver the instance
/// address it waits for.
///
/// An address is allowed when it lies in some ``allow`` block and in no ``deny`` block (deny wins).
/// Only IP literals are accepted (dotted-quad IPv4 or IPv6, no zone): a host name is refused rather
/// than resolved, so that no DNS answer can choose, or later change, where the driver connects.
/// IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`) are checked as the IPv4 address they reach.
///
/// | key | env | default |
/// |---|---|---|
/// | `<driver>.addressAllow` | e.g. `GENERIC_ADDRESS_ALLOW` | `0.0.0.0/0,::/0` (everything) |
/// | `<driver>.addressDeny` | e.g. `EC2_ADDRESS_DENY` | `0.0.0.0/8,127.0.0.0/8,169.254.0.0/16,::/128,::1/128,fe80::/10` |
///
/// Each is a comma-separated list of CIDR blocks (a bare address is a /32 or /128) and replaces the
/// default when set. Checked before every SSH connection.
package struct AddressPolicy: Sendable, Hashable {
    package var allow: [CIDRBlock]
    package var deny: [CIDRBlock]
    /// Whose policy it is (the settings' prefix, named in refusals), and what the checked address is.
    package var owner: Owner

    /// The driver the policy belongs to and the name of the address it checks (an option, or the
    /// instance address), for the settings' keys and for refusals.
    package struct Owner: Sendable, Hashable {
        package var driver: String
        package var address: String

        package init(driver: String, address: String) {
            self.driver = driver
            self.address = address
        }

        /// The configuration key of `setting`.
        package func key(_ setting: Setting) -> String { "\(driver).\(setting.rawValue)" }

        /// `key (ENVIRONMENT_VARIABLE)`.
        package func display(_ setting: Setting) -> String {
            "\(key(setting)) (\(ConfigurationSources.environmentVariable(for: key(setting))))"
        }
    }

    /// The two settings.
    package enum Setting: String, Sendable {
        case allow = "addressAllow"
        case deny = "addressDeny"
    }

    package static let defaultAllow = ["0.0.0.0/0", "::/0"]
    /// "This network" (0.0.0.0 reaches the local host on Linux), loopback, link-local (cloud metadata at
    /// 169.254.169.254), and their IPv6 counterparts.
    package static let defaultDeny = ["0.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "::/128", "::1/128", "fe80::/10"]

    /// The policy of the given blocks; nil when one is not a CIDR block.
    package init?(_ owner: Owner, allow: [String] = defaultAllow, deny: [String] = defaultDeny) {
        let allowBlocks = allow.compactMap(CIDRBlock.init)
        let denyBlocks = deny.compactMap(CIDRBlock.init)
        guard allowBlocks.count == allow.count, denyBlocks.count == deny.count else { return nil }
        self.allow = allowBlocks
        self.deny = denyBlocks
        self.owner = owner
    }

    /// The default policy.
    package init(_ owner: Owner) {
        self.init(owner, allow: Self.defaultAllow, deny: Self.defaultDeny)!
    }

    /// Reads `<driver>.addressAllow` and `<driver>.addressDeny`.
    package init(_ owner: Owner, reader: ConfigReader) throws(ServiceKitError) {
        func blocks(_ setting: Setting, default defaults: [String]) throws(ServiceKitError) -> [CIDRBlock] {
            let key = owner.key(setting)
            guard let text: String = try reader.optional(key) else { return defaults.compactMap(CIDRBlock.init) }
            let entries = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let parsed = entries.compactMap(CIDRBlock.init)
            guard parsed.count == entries.count else {
                throw .invalidConfiguration(
                    key: key, environmentVariable: ConfigurationSources.environmentVariable(for: key),
                    value: "'\(text)'", expected: "comma-separated CIDR blocks such as 10.0.0.0/8, 2001:db8::/32 or 192.0.2.7")
            }
            return parsed
        }
        allow = try blocks(.allow, default: Self.defaultAllow)
        deny = try blocks(.deny, default: Self.defaultDeny)
        self.owner = owner
    }

    /// Throws unless the driver may connect to `host`.
    package func check(_ host: String) throws(AddressPolicyError) {
        guard let address = IPAddress(host) else { throw .notAnIPAddress(host, owner: owner) }
        if let block = deny.first(where: { $0.contains(address) }) {
            throw .denied(host, block: block, owner: owner)
        }
        guard allow.contains(where: { $0.contains(address) }) else {
            throw .notAllowed(host, allowed: allow, owner: owner)
        }
    }
}

/// Why ``AddressPolicy`` refuses an address.
package enum AddressPolicyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Not an IP literal (a host name, a zone, a short form such as `127.1`).
    case notAnIPAddress(String, owner: AddressPolicy.Owner)
    /// In a denied block.
    case denied(String, block: CIDRBlock, owner: AddressPolicy.Owner)
    /// In no allowed block.
    case notAllowed(String, allowed: [CIDRBlock], owner: AddressPolicy.Owner)

    package var description: String {
        switch self {
        case .notAnIPAddress(let host, let owner):
            "\(owner.address) \"\(host)\" is not an IP address: give the machine's IPv4 or IPv6 address (host names are not "
                + "resolved, so that a DNS answer cannot choose where the driver connects)"
        case .denied(let host, let block, let owner):
            "\(owner.address) \(host) is not allowed: it is in \(block), which the \(owner.driver) driver's operator denies "
                + "(\(owner.display(.deny))); nothing was sent to it"
        case .notAllowed(let host, let allowed, let owner):
            "\(owner.address) \(host) is not allowed: it is in none of the ranges the \(owner.driver) driver's operator allows "
                + "(\(allowed.map(\.description).joined(separator: ", ")); \(owner.display(.allow))); nothing was sent to it"
        }
    }

    /// The option named by the policy's owner is what is wrong: `invalidArgument` naming it.
    package var driverError: DriverError {
        switch self {
        case .notAnIPAddress(_, let owner), .denied(_, _, let owner), .notAllowed(_, _, let owner):
            .invalidArgument(field: owner.address, message: description)
        }
    }
}

/// An IPv4 or IPv6 address, as 4 or 16 bytes; IPv4-mapped IPv6 addresses become IPv4.
package struct IPAddress: Sendable, Hashable {
    package let bytes: [UInt8]

    /// Parses a literal (`inet_pton`: dotted-quad IPv4, or IPv6 without brackets or zone); nil otherwise.
    package init?(_ text: String) {
        var v4 = in_addr()
        var v6 = in6_addr()
        if inet_pton(AF_INET, text, &v4) == 1 {
            bytes = withUnsafeBytes(of: &v4) { Array($0) }
        } else if inet_pton(AF_INET6, text, &v6) == 1 {
            let all = withUnsafeBytes(of: &v6) { Array($0) }
            let mapped = all[0..<10].allSatisfy { $0 == 0 } && all[10] == 0xff && all[11] == 0xff
            bytes = mapped ? Array(all[12..<16]) : all
        } else {
            return nil
        }
    }
}

/// An address block `address/prefix` (IPv4 or IPv6); a bare address is the block of that one address.
package struct CIDRBlock: Sendable, Hashable, CustomStringConvertible {
    package let network: IPAddress
    package let prefixLength: Int
    private let text: String

    /// Parses `10.0.0.0/8`, `fe80::/10`, `192.0.2.7`; nil for anything else (host bits may be set: they are ignored).
    package init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let network = IPAddress(String(parts[0])) else { return nil }
        let bits = network.bytes.count * 8
        let rawIsV6 = parts[0].contains(":")
        var length = bits
        if parts.count == 2 {
            guard let given = Int(parts[1]), parts[1].allSatisfy(\.isNumber) else { return nil }
            // An IPv4-mapped block (::ffff:a.b.c.d/n) counts its length over the IPv4 part.
            length = rawIsV6 && bits == 32 ? given - 96 : given
            guard (0...bits).contains(length) else { return nil }
        }
        self.network = network
        prefixLength = length
        self.text = trimmed
    }

    package var description: String { text }

    /// Whether `address` (of the same family) lies in this block.
    package func contains(_ address: IPAddress) -> Bool {
        guard address.bytes.count == network.bytes.count else { return false }
        var remaining = prefixLength
        for (mine, theirs) in zip(network.bytes, address.bytes) where remaining > 0 {
            let mask: UInt8 = remaining >= 8 ? 0xff : ~(0xff >> UInt8(remaining))
            guard mine & mask == theirs & mask else { return false }
            remaining -= 8
        }
        return true
    }
}
