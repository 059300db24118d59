import PazDriverKit

/// One virtual NIC of the guest, matched by MAC address and renamed to `name`.
package struct GuestInterface: Sendable, Hashable {
    /// How the interface gets its IPv4 address.
    package enum Addressing: Sendable, Hashable {
        case dhcp
        /// A fixed address with prefix length, e.g. `10.200.0.11/24` (no gateway: a private network).
        case `static`(cidr: String)
    }

    /// The name the guest gives the interface (`eth0`, `eth1`).
    package var name: String
    /// `52:54:00:xx:xx:xx`.
    package var macAddress: String
    package var addressing: Addressing

    package init(name: String, macAddress: String, addressing: Addressing) {
        self.name = name
        self.macAddress = macAddress
        self.addressing = addressing
    }

    func validate(field: String) throws(DriverError) {
        try GuestSpec.require(name, matches: "[a-z][a-z0-9]{0,14}", field: field + ".name", "an interface name like eth1")
        try GuestSpec.require(macAddress, matches: "[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}", field: field + ".macAddress",
                              "six colon-separated hex octets")
        if case .static(let cidr) = addressing {
            let octet = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
            try GuestSpec.require(cidr, matches: "\(octet)(\\.\(octet)){3}/([0-9]|[12][0-9]|3[0-2])",
                                  field: field + ".addressing", "an IPv4 address with prefix length, e.g. 10.200.0.11/24")
        }
    }
}
