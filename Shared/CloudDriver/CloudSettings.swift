package import Configuration
import Foundation
package import PazDriverKit
package import PazHTTP
import PazSchemas
package import PazServiceKit

/// A cloud driver service's own settings (besides ``DriverServiceConfiguration``), under its name
/// (`<driver>` is `digitalocean` or `hetzner`; environment variables `DIGITALOCEAN_…`, `HETZNER_…`):
///
/// | key | default |
/// |---|---|
/// | `<driver>.providerEndpoint` | `true`: tenants may use the provider's own API |
/// | `<driver>.endpointPrefixes` | none: comma-separated `http(s)://host[:port][/path]` prefixes of other endpoints tenants may use |
/// | `<driver>.addressAllow`, `<driver>.addressDeny` | ``AddressPolicy``: the server addresses SSH may connect to |
/// | `<driver>.maxAttempts` | `6`: tries of one API call on throttling, 5xx or transport failure |
/// | `<driver>.pollMilliseconds` | `1000`: how often, at most, waits ask the provider how servers and actions stand (one listing per tenant per poll; the first looks come sooner: 250 ms, doubling) |
/// | `<driver>.listingGraceSeconds` | `10`: how long a redelivered create looks for a server an interrupted attempt may have made before it makes one (listings lag behind creates) |
package struct CloudSettings: Sendable {
    package var providerEndpoint: Bool
    package var endpointPrefixes: [URLPrefix]
    package var addresses: AddressPolicy
    package var retry: RetryPolicy
    package var pollInterval: Duration
    package var listingGrace: Duration

    /// Commands a cloud driver handles at once unless `DRIVER_PREFETCH` says otherwise: they mostly
    /// wait for the provider, so a 20-machine cluster is made (and removed) in one wave.
    package static let defaultPrefetch = 32

    /// Settings given directly (tests).
    package init(
        driver: String, providerEndpoint: Bool = true, endpointPrefixes: [URLPrefix] = [], addresses: AddressPolicy? = nil,
        retry: RetryPolicy = RetryPolicy(maxAttempts: 6, baseDelay: .milliseconds(200), maximumDelay: .seconds(10)),
        pollInterval: Duration = .seconds(1), listingGrace: Duration = .seconds(10)
    ) {
        self.providerEndpoint = providerEndpoint
        self.endpointPrefixes = endpointPrefixes
        self.addresses = addresses ?? AddressPolicy(Self.owner(driver))
        self.retry = retry
        self.pollInterval = pollInterval
        self.listingGrace = listingGrace
    }

    /// Reads the settings of `driver`.
    package init(driver: String, reader: ConfigReader) throws(ServiceKitError) {
        self.init(
            driver: driver, providerEndpoint: try reader.value("\(driver).providerEndpoint", default: true),
            endpointPrefixes: try URLPrefix.list("\(driver).endpointPrefixes", reader: reader), addresses: try AddressPolicy(Self.owner(driver), reader: reader),
            retry: RetryPolicy(maxAttempts: try reader.value("\(driver).maxAttempts", default: 6, in: 1...20),
                               baseDelay: .milliseconds(200), maximumDelay: .seconds(10)),
            pollInterval: .milliseconds(try reader.value("\(driver).pollMilliseconds", default: 1000, in: 10...60_000)),
            listingGrace: .seconds(try reader.value("\(driver).listingGraceSeconds", default: 10, in: 0...300)))
    }

    /// Throws unless tenants may send requests (and their token) to `endpoint`.
    package func check(_ endpoint: String, provider: CloudProvider) throws(DriverError) {
        if providerEndpoint && endpoint == provider.defaultEndpoint { return }
        guard endpointPrefixes.contains(where: { $0.matches(url: endpoint) }) else {
            var allowed = endpointPrefixes.map(\.description)
            if providerEndpoint { allowed.insert("\(provider.displayName)'s own API", at: 0) }
            let driver = provider.name.rawValue.uppercased()
            throw .invalidArgument(
                field: "endpoint",
                message: "endpoint \(endpoint) is not allowed: the \(provider.name) driver's operator allows "
                    + (allowed.isEmpty ? "no endpoint" : allowed.joined(separator: ", "))
                    + " (\(driver)_PROVIDER_ENDPOINT, \(driver)_ENDPOINT_PREFIXES); nothing was sent to it")
        }
    }

    /// The address policy of `driver` checks the server address SSH uses.
    static func owner(_ driver: String) -> AddressPolicy.Owner {
        AddressPolicy.Owner(driver: driver, address: "server address")
    }
}
