package import PazSchemas

/// One provider account's API as ``CloudDriver`` uses it: servers found by the labels the driver puts
/// on them, power actions, the cluster's SSH key and firewall, limits and the catalog. A provider
/// module (DigitalOcean, Hetzner) implements it over ``RESTClient``; everything else — adopting,
/// waiting, cleaning up, states in batches — is the same for every provider and lives in the driver.
package protocol CloudAPI: Sendable {
    /// Every server carrying all of `labels` (all pages). Listings may lag behind creates.
    func servers(labelled labels: CloudLabels) async throws(CloudAPIError) -> [CloudServer]
    /// The server `id`, nil when the provider does not know it (any more).
    func server(id: String) async throws(CloudAPIError) -> CloudServer?
    /// Creates one server (one attempt: not retried on 5xx); returns it and its create action.
    func createServer(_ request: CloudServerRequest) async throws(CloudAPIError) -> (CloudServer, CloudAction?)
    /// Deletes the server; nil action when the provider deletes at once; throws 404 when it is gone.
    func deleteServer(id: String) async throws(CloudAPIError) -> CloudAction?
    /// Removes what the provider keeps of a deleted server's labels (DigitalOcean's tag of the machine).
    func forgetServer(labelled labels: CloudLabels) async throws(CloudAPIError)
    /// Asks for a power action.
    func power(_ action: CloudPowerAction, server id: String) async throws(CloudAPIError) -> CloudAction?
    /// Where an action stands.
    func action(_ action: CloudAction) async throws(CloudAPIError) -> CloudActionStatus
    /// The cluster's SSH key registered under `name` (found, or registered with `publicKey`): its id
    /// and the public key the provider holds.
    func sshKey(named name: String, publicKey: String, labels: CloudLabels) async throws(CloudAPIError) -> (CloudResource, publicKey: String)
    /// The cluster's firewall named `name`: inbound TCP 22 from `sshCIDR` only, applied to every
    /// server labelled `labels` (found, or made).
    func firewall(named name: String, sshCIDR: String, labels: CloudLabels) async throws(CloudAPIError) -> CloudResource
    /// The SSH keys and firewalls named `name` (and tags) made for the cluster `labels` names.
    func clusterResources(named name: String, labels: CloudLabels) async throws(CloudAPIError) -> [CloudResource]
    /// Deletes a resource ``clusterResources(_:)`` listed; one already gone is not an error.
    func delete(_ resource: CloudResource) async throws(CloudAPIError)
    /// How many servers the account may have and has.
    func serverLimit() async throws(CloudAPIError) -> (limit: Int?, used: Int)
    /// Images, newest first; `search` matches names and slugs.
    func images(search: String?) async throws(CloudAPIError) -> [CloudImage]
    /// Server sizes.
    func sizes() async throws(CloudAPIError) -> [CatalogSize]
    /// Regions or locations.
    func locations() async throws(CloudAPIError) -> [CatalogLocation]
}

extension CloudAPI {
    /// Polls `action` until it has finished: after 250 ms, doubling up to `maximumInterval`. A failed
    /// action is a 409 `action_failed`; the deadline or cancellation ends the wait as a cancelled call
    /// (which ``CloudAPIError/driverError`` reports as a timeout). `subject` names what the action
    /// acts on, `provider` the provider, in messages.
    package func finish(
        _ action: CloudAction, of subject: String, provider: String, deadline: ContinuousClock.Instant,
        pollingUpTo maximumInterval: Duration
    ) async throws(CloudAPIError) {
        let request = "action \(action.kind) of \(subject)"
        var intervals = PollIntervals(upTo: maximumInterval)
        while true {
            switch try await self.action(action) {
            case .succeeded:
                return
            case .failed(let message):
                throw .status(provider: provider, request: request, status: 409, code: "action_failed", message: message)
            case .running:
                let interval = intervals.take()
                guard ContinuousClock.now + interval < deadline else {
                    throw .cancelled(provider: provider, request: request + " (not finished in time)")
                }
                do {
                    try await Task.sleep(for: interval)
                } catch {
                    throw .cancelled(provider: provider, request: request)
                }
            }
        }
    }
}

/// The labels (DigitalOcean tags, Hetzner labels) that tie provider resources to paz-machine: the
/// tenant on everything, the cluster on everything of it, the machine on its server.
package struct CloudLabels: Sendable, Hashable {
    package var tenant: TenantID
    package var cluster: ClusterID?
    package var machine: MachineID?

    package init(tenant: TenantID, cluster: ClusterID? = nil, machine: MachineID? = nil) {
        self.tenant = tenant
        self.cluster = cluster
        self.machine = machine
    }

    /// Label keys (Hetzner) and tag prefixes (DigitalOcean, `paz-tenant:<id>`).
    package static let tenantKey = "paz-tenant"
    package static let clusterKey = "paz-cluster"
    package static let machineKey = "paz-machine"

    /// The narrowest pair that is set: the machine's, else the cluster's, else the tenant's.
    package var narrowest: (key: String, value: String) { pairs[pairs.count - 1] }

    /// The pairs that are set, tenant first.
    package var pairs: [(key: String, value: String)] {
        var pairs = [(Self.tenantKey, tenant.rawValue)]
        if let cluster { pairs.append((Self.clusterKey, cluster.rawValue)) }
        if let machine { pairs.append((Self.machineKey, machine.rawValue)) }
        return pairs.map { (key: $0.0, value: $0.1) }
    }
}

/// A server as the driver sees it, whatever the provider.
package struct CloudServer: Sendable, Hashable {
    package var id: String
    package var name: String
    /// The provider's status word (`new`, `active`, `off`; `initializing`, `running`…).
    package var status: String
    /// What that status means.
    package var state: MachineState
    /// The value of each paz label the server carries (keys of ``CloudLabels``).
    package var labels: [String: String]
    package var publicIPv4: String?
    package var privateIPv4: String?
    package var size: String?
    package var image: String?
    package var location: String?

    package init(
        id: String, name: String, status: String, state: MachineState, labels: [String: String], publicIPv4: String?,
        privateIPv4: String?, size: String?, image: String?, location: String?
    ) {
        self.id = id
        self.name = name
        self.status = status
        self.state = state
        self.labels = labels
        self.publicIPv4 = publicIPv4
        self.privateIPv4 = privateIPv4
        self.size = size
        self.image = image
        self.location = location
    }

    /// The machine the server belongs to (its `paz-machine` label).
    package var machine: String? { labels[CloudLabels.machineKey] }
}

/// What a new server is made of.
package struct CloudServerRequest: Sendable, Hashable {
    package var name: String
    package var size: String
    package var image: String
    package var location: String
    /// The registered SSH keys to install (provider ids).
    package var sshKeys: [String]
    package var userData: String
    package var labels: CloudLabels

    package init(
        name: String, size: String, image: String, location: String, sshKeys: [String], userData: String, labels: CloudLabels
    ) {
        self.name = name
        self.size = size
        self.image = image
        self.location = location
        self.sshKeys = sshKeys
        self.userData = userData
        self.labels = labels
    }
}

/// A power action, as the driver asks for it (each provider names its own).
package enum CloudPowerAction: String, Sendable, Hashable {
    /// Power on (DigitalOcean `power_on`, Hetzner `poweron`).
    case start
    /// ACPI shutdown (`shutdown`).
    case shutdown
    /// Reboot (`reboot`).
    case reboot
    /// Cut the power (`power_off`, `poweroff`).
    case powerOff
}

/// A provider action to wait for.
package struct CloudAction: Sendable, Hashable {
    package var id: String
    /// What it does (`create`, `power_on`…), for messages.
    package var kind: String

    package init(id: String, kind: String) {
        self.id = id
        self.kind = kind
    }
}

/// Where an action stands.
package enum CloudActionStatus: Sendable, Hashable {
    case running
    case succeeded
    case failed(String)
}

/// An SSH key, firewall or tag made for a cluster.
package struct CloudResource: Sendable, Hashable, CustomStringConvertible {
    package enum Kind: String, Sendable, Hashable {
        case sshKey = "ssh-key"
        case firewall
        case tag
    }

    package var kind: Kind
    package var id: String

    package init(_ kind: Kind, id: String) {
        self.kind = kind
        self.id = id
    }

    /// `ssh-key:<id>`, as removal results list it.
    package var description: String { "\(kind.rawValue):\(id)" }
}

/// An image in the provider's catalog.
package struct CloudImage: Sendable, Hashable {
    /// What a create's `image` names: the slug (DigitalOcean) or name (Hetzner), else the id.
    package var id: String
    package var name: String
    /// The OS family (`Debian`, `fedora`, `flatcar`…), which decides cloud-init or Ignition.
    package var distribution: String?
    package var created: String?

    package init(id: String, name: String, distribution: String?, created: String?) {
        self.id = id
        self.name = name
        self.distribution = distribution
        self.created = created
    }
}
