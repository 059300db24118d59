import Foundation
import PazCloudDriver
import PazHTTP
import PazSchemas

/// Hetzner Cloud API v1 as ``CloudAPI``: servers labelled `paz-tenant`, `paz-cluster` and
/// `paz-machine` (found with label selectors), server actions, SSH keys and a firewall per cluster
/// applied by label selector. Lists follow `meta.pagination.next_page`.
struct HetznerAPI: CloudAPI {
    let rest: RESTClient

    /// The largest page Hetzner serves.
    static let pageSize = 50

    // MARK: Servers

    func servers(labelled labels: CloudLabels) async throws(CloudAPIError) -> [CloudServer] {
        try await pages("/servers", query: [("label_selector", Self.selector(labels))], Hetzner.ServerPage.self) {
            ($0.servers, $0.meta)
        }.map(Self.server)
    }

    func server(id: String) async throws(CloudAPIError) -> CloudServer? {
        do throws(CloudAPIError) {
            let answer: Hetzner.ServerAnswer = try await rest.call(.get, "/servers/\(try Self.number(id))")
            return answer.server.status == "deleting" ? nil : Self.server(answer.server)
        } catch where error.isNotFound {
            return nil
        }
    }

    func createServer(_ request: CloudServerRequest) async throws(CloudAPIError) -> (CloudServer, CloudAction?) {
        let body = Hetzner.ServerCreate(
            name: request.name, server_type: request.size, image: request.image, location: request.location,
            ssh_keys: request.sshKeys, user_data: request.userData, labels: Self.labels(request.labels))
        let answer: Hetzner.ServerAnswer = try await rest.call(.post, "/servers", body: body)
        return (Self.server(answer.server), answer.action.map(Self.action))
    }

    func deleteServer(id: String) async throws(CloudAPIError) -> CloudAction? {
        let answer: Hetzner.OptionalActionAnswer = try await rest.call(.delete, "/servers/\(try Self.number(id))")
        return answer.action.map(Self.action)
    }

    /// Labels live on the server only.
    func forgetServer(labelled labels: CloudLabels) async throws(CloudAPIError) {}

    func power(_ action: CloudPowerAction, server id: String) async throws(CloudAPIError) -> CloudAction? {
        let command = switch action {
        case .start: "poweron"
        case .shutdown: "shutdown"
        case .reboot: "reboot"
        case .powerOff: "poweroff"
        }
        let answer: Hetzner.ActionAnswer = try await rest.call(.post, "/servers/\(try Self.number(id))/actions/\(command)")
        return Self.action(answer.action)
    }

    func action(_ action: CloudAction) async throws(CloudAPIError) -> CloudActionStatus {
        let answer: Hetzner.ActionAnswer = try await rest.call(.get, "/actions/\(try Self.number(action.id))")
        switch answer.action.status {
        case "success": return .succeeded
        case "error":
            let error = answer.action.error
            return .failed("Hetzner's \(action.kind) action \(action.id) failed: \(error?.code ?? "error") \(error?.message ?? "")")
        default: return .running
        }
    }

    // MARK: Cluster resources

    func sshKey(named name: String, publicKey: String, labels: CloudLabels) async throws(CloudAPIError) -> (CloudResource, publicKey: String) {
        if let key = try await sshKeys(named: name).first {
            return (CloudResource(.sshKey, id: String(key.id)), key.public_key)
        }
        let answer: Hetzner.SSHKeyAnswer = try await rest.call(
            .post, "/ssh_keys", body: Hetzner.SSHKeyCreate(name: name, public_key: publicKey, labels: Self.labels(labels)))
        return (CloudResource(.sshKey, id: String(answer.ssh_key.id)), answer.ssh_key.public_key)
    }

    func firewall(named name: String, sshCIDR: String, labels: CloudLabels) async throws(CloudAPIError) -> CloudResource {
        if let found = try await firewalls(named: name).first {
            return CloudResource(.firewall, id: String(found.id))
        }
        let body = Hetzner.FirewallCreate(
            name: name, labels: Self.labels(labels),
            rules: [.init(direction: "in", protocol_: "tcp", port: "22", source_ips: [sshCIDR], description: "SSH from ssh-cidr only")],
            apply_to: [Self.target(labels)])
        let answer: Hetzner.FirewallAnswer = try await rest.call(.post, "/firewalls", body: body)
        return CloudResource(.firewall, id: String(answer.firewall.id))
    }

    func clusterResources(named name: String, labels: CloudLabels) async throws(CloudAPIError) -> [CloudResource] {
        let walls = try await firewalls(named: name).map { CloudResource(.firewall, id: String($0.id)) }
        let keys = try await sshKeys(named: name).map { CloudResource(.sshKey, id: String($0.id)) }
        return walls + keys
    }

    /// A firewall is first taken off what its label selector applies it to (Hetzner refuses to delete
    /// one in use), then deleted.
    func delete(_ resource: CloudResource) async throws(CloudAPIError) {
        do throws(CloudAPIError) {
            switch resource.kind {
            case .sshKey:
                try await rest.perform(.delete, "/ssh_keys/\(try Self.number(resource.id))")
            case .firewall:
                let id = try Self.number(resource.id)
                let wall: Hetzner.FirewallAnswer = try await rest.call(.get, "/firewalls/\(id)")
                let selectors = (wall.firewall.applied_to ?? []).compactMap(\.label_selector?.selector)
                if !selectors.isEmpty {
                    let removal = Hetzner.FirewallRemoval(remove_from: selectors.map { Hetzner.Target(label_selector: .init(selector: $0)) })
                    let answer: Hetzner.ActionList = try await rest.call(.post, "/firewalls/\(id)/actions/remove_from_resources", body: removal)
                    for action in answer.actions {
                        try await finish(
                            Self.action(action), of: "firewall \(id)", provider: rest.provider, deadline: .now + .seconds(30),
                            pollingUpTo: .milliseconds(250))
                    }
                }
                try await rest.perform(.delete, "/firewalls/\(id)")
            case .tag:
                return
            }
        } catch where error.isNotFound {}
    }

    // MARK: Account and catalog

    /// Hetzner's API does not state the project's server limit (a create over it is refused with
    /// `resource_limit_exceeded`); the count is the project's servers.
    func serverLimit() async throws(CloudAPIError) -> (limit: Int?, used: Int) {
        let page: Hetzner.ServerPage = try await rest.call(.get, "/servers", query: [("per_page", "1")])
        return (nil, page.meta?.pagination?.total_entries ?? page.servers.count)
    }

    func images(search: String?) async throws(CloudAPIError) -> [CloudImage] {
        // The project's own snapshots too: that is how Hetzner users run Fedora CoreOS or Flatcar.
        let images = try await pages(
            "/images", query: [("type", "system"), ("type", "snapshot"), ("status", "available")], Hetzner.ImagePage.self
        ) { ($0.images, $0.meta) }
        let needle = search?.lowercased() ?? ""
        return images.map { image in
            CloudImage(id: image.name ?? String(image.id), name: image.description, distribution: image.os_flavor, created: image.created)
        }
        .filter { needle.isEmpty || "\($0.id) \($0.name)".lowercased().contains(needle) }
        .sorted { ($0.created ?? "", $0.id) > ($1.created ?? "", $1.id) }
    }

    func sizes() async throws(CloudAPIError) -> [CatalogSize] {
        let types = try await pages("/server_types", query: [], Hetzner.ServerTypePage.self) { ($0.server_types, $0.meta) }
        return types.filter { $0.deprecated != true }.map { type in
            CatalogSize(
                id: type.name, name: type.description, vcpus: type.cores, ramMiB: Int(type.memory * 1024), diskGiB: Int(type.disk),
                pricePerHour: type.prices?.first.flatMap { Double($0.price_hourly.gross) }, currency: "EUR",
                extra: ["regions": .array((type.locations ?? []).map { .string($0.name) })])
        }
    }

    func locations() async throws(CloudAPIError) -> [CatalogLocation] {
        let locations = try await pages("/locations", query: [], Hetzner.LocationPage.self) { ($0.locations, $0.meta) }
        return locations.map { CatalogLocation(id: $0.name, name: "\($0.city) (\($0.description))", country: $0.country) }
    }

    // MARK: Helpers

    private func sshKeys(named name: String) async throws(CloudAPIError) -> [Hetzner.SSHKey] {
        try await pages("/ssh_keys", query: [("name", name)], Hetzner.SSHKeyPage.self) { ($0.ssh_keys, $0.meta) }
    }

    private func firewalls(named name: String) async throws(CloudAPIError) -> [Hetzner.Firewall] {
        try await pages("/firewalls", query: [("name", name)], Hetzner.FirewallPage.self) { ($0.firewalls, $0.meta) }
    }

    /// Every item of a paginated list: `meta.pagination.next_page` is followed (at most 100 pages).
    private func pages<Page: Decodable, Item>(
        _ path: String, query: [(String, String)], _ page: Page.Type, items: (Page) -> ([Item], Hetzner.Meta?)
    ) async throws(CloudAPIError) -> [Item] {
        var all: [Item] = []
        var number = 1
        for _ in 0..<100 {
            let answer: Page = try await rest.call(
                .get, path, query: query + [("page", "\(number)"), ("per_page", "\(Self.pageSize)")])
            let (found, meta) = items(answer)
            all += found
            guard let next = meta?.pagination?.next_page else { return all }
            guard next > number else {
                throw .malformedResponse(provider: rest.provider, request: "GET \(path)", detail: "next_page \(next) after page \(number)")
            }
            number = next
        }
        throw .malformedResponse(provider: rest.provider, request: "GET \(path)", detail: "more than 100 pages")
    }

    /// A server as the driver sees it.
    static func server(_ server: Hetzner.Server) -> CloudServer {
        CloudServer(
            id: String(server.id), name: server.name, status: server.status, state: state(of: server.status),
            labels: (server.labels ?? [:]).filter { $0.key.hasPrefix("paz-") }, publicIPv4: server.public_net?.ipv4?.ip,
            privateIPv4: server.private_net?.first?.ip, size: server.server_type?.name,
            image: server.image.map { $0.name ?? String($0.id) }, location: server.location?.name)
    }

    /// The common state of a server status.
    static func state(of status: String) -> MachineState {
        switch status {
        case "initializing", "starting", "rebuilding", "migrating": .starting
        case "running": .running
        case "stopping": .stopping
        case "off": .stopped
        case "deleting": .notFound
        default: .unknown
        }
    }

    static func action(_ action: Hetzner.Action) -> CloudAction {
        CloudAction(id: String(action.id), kind: action.command)
    }

    /// The labels as Hetzner stores them.
    static func labels(_ labels: CloudLabels) -> [String: String] {
        Dictionary(uniqueKeysWithValues: labels.pairs.map { ($0.key, $0.value) })
    }

    /// `paz-tenant=…,paz-cluster=…`: every label must match.
    static func selector(_ labels: CloudLabels) -> String {
        labels.pairs.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    static func target(_ labels: CloudLabels) -> Hetzner.Target {
        Hetzner.Target(label_selector: .init(selector: selector(labels)))
    }

    /// A numeric id (servers, actions, keys, firewalls); anything else never reaches a URL.
    static func number(_ id: String) throws(CloudAPIError) -> Int {
        guard let number = Int(id), number > 0 else {
            throw .malformedResponse(provider: "Hetzner", request: "id \(id)", detail: "not a Hetzner numeric id")
        }
        return number
    }
}
