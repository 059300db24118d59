/// A machine image a driver can boot (Apache Libcloud's `NodeImage`).
package struct CatalogImage: Sendable, Hashable, Codable {
    /// The provider's id for the image (an AMI id, a slug, a URL for QEMU).
    package var id: String
    /// A human-readable name.
    package var name: String
    /// Provider-specific details (architecture, OS family, digest, minimum disk…).
    package var extra: [String: JSONValue]

    package init(id: String, name: String, extra: [String: JSONValue] = [:]) {
        self.id = id
        self.name = name
        self.extra = extra
    }
}

/// A machine size (Libcloud's `NodeSize`). Capacities the provider does not state are nil.
package struct CatalogSize: Sendable, Hashable, Codable {
    /// The provider's id for the size (`t3.micro`, `s-1vcpu-1gb`).
    package var id: String
    /// A human-readable name.
    package var name: String
    /// Virtual CPUs.
    package var vcpus: Int?
    /// Memory in MiB.
    package var ramMiB: Int?
    /// Root disk in GiB.
    package var diskGiB: Int?
    /// Price per hour in `currency`.
    package var pricePerHour: Double?
    /// ISO 4217 currency code of `pricePerHour`, e.g. `"USD"`.
    package var currency: String?
    /// Provider-specific details.
    package var extra: [String: JSONValue]

    package init(
        id: String, name: String, vcpus: Int? = nil, ramMiB: Int? = nil, diskGiB: Int? = nil,
        pricePerHour: Double? = nil, currency: String? = nil, extra: [String: JSONValue] = [:]
    ) {
        self.id = id
        self.name = name
        self.vcpus = vcpus
        self.ramMiB = ramMiB
        self.diskGiB = diskGiB
        self.pricePerHour = pricePerHour
        self.currency = currency
        self.extra = extra
    }
}

/// A place machines can run (Libcloud's `NodeLocation`): a region, a datacenter, or this host.
package struct CatalogLocation: Sendable, Hashable, Codable {
    /// The provider's id for the location (`eu-west-1`, `fra1`, `local`).
    package var id: String
    /// A human-readable name.
    package var name: String
    /// ISO 3166-1 alpha-2 country code, when known.
    package var country: String?
    /// Provider-specific details.
    package var extra: [String: JSONValue]

    package init(id: String, name: String, country: String? = nil, extra: [String: JSONValue] = [:]) {
        self.id = id
        self.name = name
        self.country = country
        self.extra = extra
    }
}
