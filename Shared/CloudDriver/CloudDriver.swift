import Foundation
import Logging
import PazDriverKit
package import PazHTTP
package import PazSchemas

/// Machines on a cloud provider's REST API (DigitalOcean, Hetzner Cloud): the provider-independent
/// half of those drivers. The provider's half is a ``CloudProvider`` and its ``CloudAPI``.
///
/// - create: makes (or finds) the cluster's SSH key and firewall (port 22 from `ssh-cidr` only,
///   applied by label), asks the SSH broker for the host identity, records the machine, creates ONE
///   server labelled with tenant, cluster and machine — before a retried or redelivered create it
///   looks for a server labelled with the machine and adopts it — then waits for the provider's
///   create action, for `running` and, with `ready-when=ssh`, for SSH with the issued host key. A
///   create that fails removes what it made.
/// - remove: deletes the server, waits until it is gone, then removes the cluster's SSH key and
///   firewall once no server of the cluster is left.
/// - states: one listing (all pages) per account for all the machines asked about.
/// - start / stop (ACPI shutdown, cut after the timeout) / restart / kill (power cut).
/// - catalog and PreCreateCheck with the tenant's stored driver defaults (the token).
package struct CloudDriver: Driver {
    package let provider: CloudProvider
    package let settings: CloudSettings
    package var name: ResourceName { provider.name }
    package let version = "0.1.0"
    package let capabilities: [DriverCapability] = [
        .create, .remove, .start, .stop, .restart, .kill, .states, .catalog, .precheck, .probe,
    ]
    package var createOptions: [CreateOptionSpec] { CloudOptions.specs(provider) }

    let http: HTTPClient
    /// Each cluster's SSH key and firewall, made once per cluster.
    let clusterResources = SharedResults<ClusterKey, ClusterResources>()
    /// Each account's catalog, read at most once a minute (PreCreateCheck, guest-config by image).
    let catalogs = SharedResults<CloudAccount, CloudCatalog>(lifetime: .seconds(60))
    /// Waits of one tenant's account: the creates, starts and stops waiting at once share one listing.
    let looks = Rounds<TenantAccount, String, CloudServer?>()
    /// Clean-up checks of one cluster: the removals finishing at once share one look for servers left.
    let cleanups = Rounds<ClusterKey, ClusterID, [String]>()

    package init(provider: CloudProvider, settings: CloudSettings, http: HTTPClient) {
        self.provider = provider
        self.settings = settings
        self.http = http
    }

    /// The API of one account, logging with the command's logger.
    func api(_ account: CloudAccount, context: DriverContext) throws(DriverError) -> any CloudAPI {
        try settings.check(account.endpoint, provider: provider)
        return provider.api(RESTClient(
            baseURL: account.endpoint, provider: provider.displayName, token: account.token.value, http: http,
            retry: settings.retry, logger: context.logger, parseError: provider.parseError))
    }

    /// The machine's recorded data, or `notFound`.
    func machineData(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> CloudMachineData {
        guard let data = try await context.driverData(CloudMachineData.self, version: CloudMachineData.version, for: machine.machineId) else {
            throw .notFound("the \(name) driver has no record of machine \(machine.machineId)")
        }
        return data
    }

    /// The account of a recorded machine (its token is its sealed secret option).
    func account(of data: CloudMachineData, machine: MachineRef, context: DriverContext) async throws(DriverError) -> CloudAccount {
        CloudAccount(endpoint: data.endpoint, token: try CloudToken(try await context.secrets(for: machine.machineId), driver: name.rawValue))
    }

    /// What the gateway and the user see of a machine.
    func details(_ machine: MachineRef, data: CloudMachineData, state: MachineState) -> MachineDetails {
        var addresses: [MachineAddress] = []
        if let ip = data.publicIp { addresses.append(MachineAddress(address: ip, scope: .public)) }
        if let ip = data.privateIp { addresses.append(MachineAddress(address: ip, scope: .private)) }
        return MachineDetails(
            machine: machine, state: state, observedAt: Date(), providerId: data.serverId, addresses: addresses,
            ssh: data.publicIp.map { SSHEndpoint(host: $0, port: 22, user: data.user) }, size: data.size, image: data.image,
            location: data.region, providerResources: ["sshKey": data.sshKeyId, "firewall": data.firewallId])
    }

    /// The name of the cluster's SSH key and firewall (unique: cluster ids are).
    static func clusterResourceName(_ cluster: ClusterID) -> String {
        "paz-\(cluster.rawValue)"
    }
}

extension CloudDriver {
    /// `paz-driver-<provider>`: bootstraps the service kit and runs the driver kit's consumer loop
    /// with the cloud driver for `provider` (settings: ``CloudSettings``, keys `<provider>.*`).
    package static func runService(_ provider: CloudProvider) async throws {
        let name = provider.name.rawValue
        try await DriverServiceMain.run(defaultServiceName: "driver-\(name)", defaultPrefetch: CloudSettings.defaultPrefetch) { reader in
            let settings = try CloudSettings(driver: name, reader: reader)
            let http = HTTPClient(
                configuration: .init(connectTimeout: .seconds(10), totalTimeout: .seconds(60), retry: .none, threadName: "paz-\(name)-http"),
                logger: Logger(label: "paz.driver.\(name).http"))
            return CloudDriver(provider: provider, settings: settings, http: http)
        }
    }
}

/// One account at one endpoint: calls of one account can be batched.
struct CloudAccount: Hashable, Sendable {
    var endpoint: String
    var token: CloudToken
}

/// One tenant's servers in one account.
struct TenantAccount: Hashable, Sendable {
    var account: CloudAccount
    var tenant: TenantID
}

/// One cluster of one account.
struct ClusterKey: Hashable, Sendable {
    var account: CloudAccount
    var tenant: TenantID
    var cluster: ClusterID
}

/// The cluster's SSH key (and the public key it holds) and firewall.
struct ClusterResources: Sendable, Hashable {
    var sshKey: CloudResource
    var sshPublicKey: String
    var firewall: CloudResource
}

/// What PreCreateCheck and guest-config choice read of an account's catalog.
struct CloudCatalog: Sendable {
    var images: [CloudImage]
    var sizes: [CatalogSize]
    var locations: [CatalogLocation]
}

/// How long to wait before the next look at something the provider is doing: 250 ms at first,
/// doubling up to the `pollMilliseconds` setting — a quick action is seen at once, a slow one costs
/// few requests.
struct PollIntervals {
    private var next: Duration
    private let maximum: Duration

    init(upTo maximum: Duration) {
        next = min(.milliseconds(250), maximum)
        self.maximum = maximum
    }

    /// The next interval.
    mutating func take() -> Duration {
        defer { next = min(next * 2, maximum) }
        return next
    }
}

extension CloudDriver {
    /// Sleeps `interval`, or ends the wait as a timeout when the task is cancelled.
    func pause(_ interval: Duration, waitingFor what: @autoclosure () -> String) async throws(DriverError) {
        do {
            try await Task.sleep(for: interval)
        } catch {
            throw .timeout("waiting for \(what()) was cancelled")
        }
    }
}
