package import Configuration
import Foundation
package import PazDriverKit
package import PazHTTP
package import PazServiceKit

/// The EC2 driver service's own settings (besides ``DriverServiceConfiguration``):
///
/// | key | env | default |
/// |---|---|---|
/// | `ec2.awsEndpoints` | `EC2_AWS_ENDPOINTS` | `true`: tenants may use AWS's own `https://ec2.<region>.amazonaws.com/` |
/// | `ec2.endpointPrefixes` | `EC2_ENDPOINT_PREFIXES` | none: comma-separated `http(s)://host[:port][/path]` prefixes of other EC2-compatible endpoints tenants may use |
/// | `ec2.addressAllow` | `EC2_ADDRESS_ALLOW` | `0.0.0.0/0,::/0`: instance addresses SSH may connect to (``AddressPolicy``) |
/// | `ec2.addressDeny` | `EC2_ADDRESS_DENY` | loopback, link-local, "this network" |
/// | `ec2.maxAttempts` | `EC2_MAX_ATTEMPTS` | `6`: tries of one EC2 call on throttling, 5xx or transport failure |
/// | `ec2.pollMilliseconds` | `EC2_POLL_MILLISECONDS` | `1000`: how often create, start, stop and rm ask EC2 for an instance's state |
package struct EC2Settings: Sendable {
    package var awsEndpoints: Bool
    package var endpointPrefixes: [URLPrefix]
    package var addresses: AddressPolicy
    package var retry: RetryPolicy
    package var pollInterval: Duration

    /// Settings given directly (tests).
    package init(
        awsEndpoints: Bool = true, endpointPrefixes: [URLPrefix] = [], addresses: AddressPolicy = AddressPolicy(.ec2),
        retry: RetryPolicy = RetryPolicy(maxAttempts: 6, baseDelay: .milliseconds(100), maximumDelay: .seconds(5)),
        pollInterval: Duration = .seconds(1)
    ) {
        self.awsEndpoints = awsEndpoints
        self.endpointPrefixes = endpointPrefixes
        self.addresses = addresses
        self.retry = retry
        self.pollInterval = pollInterval
    }

    /// Reads the settings.
    package init(reader: ConfigReader) throws(ServiceKitError) {
        self.init(
            awsEndpoints: try reader.value("ec2.awsEndpoints", default: true),
            endpointPrefixes: try URLPrefix.list("ec2.endpointPrefixes", reader: reader), addresses: try AddressPolicy(.ec2, reader: reader),
            retry: RetryPolicy(maxAttempts: try reader.value("ec2.maxAttempts", default: 6, in: 1...20),
                               baseDelay: .milliseconds(100), maximumDelay: .seconds(5)),
            pollInterval: .milliseconds(try reader.value("ec2.pollMilliseconds", default: 1000, in: 10...60_000)))
    }

    /// Throws unless tenants may send requests (and credentials) to `endpoint`.
    package func check(_ endpoint: EC2Endpoint) throws(DriverError) {
        if awsEndpoints && endpoint.url == EC2Endpoint.aws(region: endpoint.region).url { return }
        guard endpointPrefixes.contains(where: { $0.matches(url: endpoint.url) }) else {
            var allowed = endpointPrefixes.map(\.description)
            if awsEndpoints { allowed.insert("AWS's own endpoint of the region", at: 0) }
            throw .invalidArgument(
                field: "endpoint",
                message: "endpoint \(endpoint.url) is not allowed: the ec2 driver's operator allows "
                    + (allowed.isEmpty ? "no endpoint" : allowed.joined(separator: ", "))
                    + " (EC2_AWS_ENDPOINTS, EC2_ENDPOINT_PREFIXES); nothing was sent to it")
        }
    }
}

extension AddressPolicy.Owner {
    /// The EC2 driver's policy (`ec2.addressAllow`, `ec2.addressDeny`) checks the instance address SSH uses.
    package static let ec2 = AddressPolicy.Owner(driver: "ec2", address: "ssh-address")
}
