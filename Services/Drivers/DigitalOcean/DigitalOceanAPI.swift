import Foundation
import PazCloudDriver
import PazHTTP
import PazSchemas

/// DigitalOcean API v2 as ``CloudAPI``: droplets tagged `paz-tenant:<id>`, `paz-cluster:<id>` and
/// `paz-machine:<id>`, droplet actions, account SSH keys, a firewall per cluster applied by its tag.
/// Lists follow `links.pages.next`, which must stay at the client's endpoint (the token goes with it).
struct DigitalOceanAPI: CloudAPI {
    let rest: RESTClient

    /// The largest page DigitalOcean serves.
    static let pageSize = 200

    // MARK: Servers

    func servers(labelled labels: CloudLabels) async throws(CloudAPIError) -> [CloudServer] {
        let tag = Self.tag(labels.narrowest)
        let droplets = try await pages("/v2/droplets", query: [("tag_name", tag)], DigitalOcean.DropletPage.self) {
            ($0.droplets, $0.links)
        }
        let wanted = Set(labels.pairs.map(Self.tag))
        return droplets.filter { wanted.isSubset(of: Set($0.tags ?? [])) }.map(Self.server)
    }

    func server(id: String) async throws(CloudAPIError) -> CloudServer? {
        do throws(CloudAPIError) {
            let answer: DigitalOcean.DropletAnswer = try await rest.call(.get, "/v2/droplets/\(try Self.number(id))")
            return Self.server(answer.droplet)
        } catch where error.isNotFound {
            return nil
        }
    }

    func createServer(_ request: CloudServerRequest) async throws(CloudAPIError) -> (CloudServer, CloudAction?) {
        var keys: [Int] = []
        for key in request.sshKeys { keys.append(try Self.number(key)) }
        let body = DigitalOcean.DropletCreate(
            name: request.name, region: request.location, size: request.size, image: request.image, ssh_keys: keys,
            tags: request.labels.pairs.map(Self.tag), user_data: request.userData)
        let answer: DigitalOcean.DropletAnswer = try await rest.call(.post, "/v2/droplets", body: body)
        let action = answer.links?.actions?.first { $0.rel == "create" }?.id.map { CloudAction(id: String($0), kind: "create") }
        return (Self.server(answer.droplet), action)
    }

    func deleteServer(id: String) async throws(CloudAPIError) -> CloudAction? {
        try await rest.perform(.delete, "/v2/droplets/\(try Self.number(id))")
        return nil
    }

    /// DigitalOcean keeps a tag after its last droplet is gone: the machine's tag is deleted with it.
    func forgetServer(labelled labels: CloudLabels) async throws(CloudAPIError) {
        guard labels.machine != nil else { return }
        try await delete(CloudResource(.tag, id: Self.tag(labels.narrowest)))
    }

    func power(_ action: CloudPowerAction, server id: String) async throws(CloudAPIError) -> CloudAction? {
        let type = switch action {
        case .start: "power_on"
        case .shutdown: "shutdown"
        case .reboot: "reboot"
        case .powerOff: "power_off"
        }
        let answer: DigitalOcean.ActionAnswer = try await rest.call(
            .post, "/v2/droplets/\(try Self.number(id))/actions", body: DigitalOcean.ActionRequest(type: type))
        return CloudAction(id: String(answer.action.id), kind: type)
    }

    func action(_ action: CloudAction) async throws(CloudAPIError) -> CloudActionStatus {
        let answer: DigitalOcean.ActionAnswer = try await rest.call(.get, "/v2/actions/\(try Self.number(action.id))")
        switch answer.action.status {
        case "completed": return .succeeded
        case "errored": return .failed("DigitalOcean's \(action.kind) action \(action.id) errored")
        default: return .running
        }
    }

    // MARK: Cluster resources

    func sshKey(named name: String, publicKey: String, labels: CloudLabels) async throws(CloudAPIError) -> (CloudResource, publicKey: String) {
        if let key = try await sshKeys().first(where: { $0.name == name }) {
            return (CloudResource(.sshKey, id: String(key.id)), key.public_key)
        }
        let answer: DigitalOcean.SSHKeyAnswer = try await rest.call(
            .post, "/v2/account/keys", body: DigitalOcean.SSHKeyCreate(name: name, public_key: publicKey))
        return (CloudResource(.sshKey, id: String(answer.ssh_key.id)), answer.ssh_key.public_key)
    }

    func firewall(named name: String, sshCIDR: String, labels: CloudLabels) async throws(CloudAPIError) -> CloudResource {
        let firewallName = Self.firewallName(name)
        if let found = try await firewalls().first(where: { $0.name == firewallName }) {
            return CloudResource(.firewall, id: found.id)
        }
        // A firewall names tags that exist.
        let tag = Self.tag(labels.narrowest)
        try await rest.perform(.post, "/v2/tags", body: DigitalOcean.TagCreate(name: tag))
        let everywhere = DigitalOcean.FirewallCreate.Addresses(addresses: ["0.0.0.0/0", "::/0"])
        let body = DigitalOcean.FirewallCreate(
            name: firewallName,
            inbound_rules: [.init(protocol_: "tcp", ports: "22", sources: .init(addresses: [sshCIDR]))],
            outbound_rules: ["tcp", "udp", "icmp"].map { .init(protocol_: $0, ports: "0", destinations: everywhere) },
            tags: [tag])
        let answer: DigitalOcean.FirewallAnswer = try await rest.call(.post, "/v2/firewalls", body: body)
        return CloudResource(.firewall, id: answer.firewall.id)
    }

    func clusterResources(named name: String, labels: CloudLabels) async throws(CloudAPIError) -> [CloudResource] {
        let keys = try await sshKeys().filter { $0.name == name }.map { CloudResource(.sshKey, id: String($0.id)) }
        let firewallName = Self.firewallName(name)
        let walls = try await firewalls().filter { $0.name == firewallName }.map { CloudResource(.firewall, id: $0.id) }
        // The cluster's tag. The tenant's stays: other clusters of the tenant may be under way, and
        // deleting a tag untags its droplets.
        let tag = Self.tag(labels.narrowest)
        do throws(CloudAPIError) {
            try await rest.perform(.get, "/v2/tags/\(tag)")
            return walls + keys + [CloudResource(.tag, id: tag)]
        } catch where error.isNotFound {
            return walls + keys
        }
    }

    func delete(_ resource: CloudResource) async throws(CloudAPIError) {
        let path = switch resource.kind {
        case .sshKey: "/v2/account/keys/\(resource.id)"
        case .firewall: "/v2/firewalls/\(resource.id)"
        case .tag: "/v2/tags/\(resource.id)"
        }
        do throws(CloudAPIError) {
            try await rest.perform(.delete, path)
        } catch where error.isNotFound {}
    }

    // MARK: Account and catalog

    func serverLimit() async throws(CloudAPIError) -> (limit: Int?, used: Int) {
        let account: DigitalOcean.Account = try await rest.call(.get, "/v2/account")
        let meta: DigitalOcean.DropletMeta = try await rest.call(.get, "/v2/droplets", query: [("per_page", "1")])
        return (account.account.droplet_limit, meta.meta.total ?? 0)
    }

    func images(search: String?) async throws(CloudAPIError) -> [CloudImage] {
        let images = try await pages("/v2/images", query: [("type", "distribution")], DigitalOcean.ImagePage.self) {
            ($0.images, $0.links)
        }
        let needle = search?.lowercased() ?? ""
        return images.filter { $0.status == nil || $0.status == "available" }
            .map { image in
                CloudImage(
                    id: image.slug ?? String(image.id), name: [image.distribution, image.name].compactMap { $0 }.joined(separator: " "),
                    distribution: image.distribution, created: image.created_at)
            }
            .filter { needle.isEmpty || "\($0.id) \($0.name)".lowercased().contains(needle) }
            .sorted { ($0.created ?? "", $0.id) > ($1.created ?? "", $1.id) }
    }

    func sizes() async throws(CloudAPIError) -> [CatalogSize] {
        let sizes = try await pages("/v2/sizes", query: [], DigitalOcean.SizePage.self) { ($0.sizes, $0.links) }
        return sizes.filter { $0.available ?? true }.map { size in
            CatalogSize(
                id: size.slug, name: size.description ?? size.slug, vcpus: size.vcpus, ramMiB: size.memory, diskGiB: size.disk,
                pricePerHour: size.price_hourly, currency: "USD",
                extra: ["regions": .array((size.regions ?? []).map(JSONValue.string))])
        }
    }

    func locations() async throws(CloudAPIError) -> [CatalogLocation] {
        let regions = try await pages("/v2/regions", query: [], DigitalOcean.RegionPage.self) { ($0.regions, $0.links) }
        return regions.filter { $0.available ?? true }.map { CatalogLocation(id: $0.slug, name: $0.name) }
    }

    // MARK: Helpers

    private func sshKeys() async throws(CloudAPIError) -> [DigitalOcean.SSHKey] {
        try await pages("/v2/account/keys", query: [], DigitalOcean.SSHKeyPage.self) { ($0.ssh_keys, $0.links) }
    }

    private func firewalls() async throws(CloudAPIError) -> [DigitalOcean.Firewall] {
        try await pages("/v2/firewalls", query: [], DigitalOcean.FirewallPage.self) { ($0.firewalls, $0.links) }
    }

    /// Every item of a paginated list: `links.pages.next` is followed (at most 100 pages) as long as
    /// it points at this client's endpoint.
    private func pages<Page: Decodable, Item>(
        _ path: String, query: [(String, String)], _ page: Page.Type, items: (Page) -> ([Item], DigitalOcean.PageLinks?)
    ) async throws(CloudAPIError) -> [Item] {
        var all: [Item] = []
        var next: String?
        for _ in 0..<100 {
            let answer: Page = try await rest.call(.get, path, query: query + [("per_page", "\(Self.pageSize)")], url: next)
            let (found, links) = items(answer)
            all += found
            guard let link = links?.pages?.next, !link.isEmpty else { return all }
            guard link.hasPrefix(rest.baseURL + "/") else {
                throw .malformedResponse(provider: rest.provider, request: "GET \(path)",
                                         detail: "its next page is not at \(rest.baseURL); not following it")
            }
            next = link
        }
        throw .malformedResponse(provider: rest.provider, request: "GET \(path)", detail: "more than 100 pages")
    }

    /// A droplet as the driver sees it.
    static func server(_ droplet: DigitalOcean.Droplet) -> CloudServer {
        var labels: [String: String] = [:]
        for tag in droplet.tags ?? [] {
            let parts = tag.split(separator: ":", maxSplits: 1)
            if parts.count == 2, parts[0].hasPrefix("paz-") { labels[String(parts[0])] = String(parts[1]) }
        }
        let v4 = droplet.networks?.v4 ?? []
        return CloudServer(
            id: String(droplet.id), name: droplet.name, status: droplet.status, state: state(of: droplet.status), labels: labels,
            publicIPv4: v4.first { $0.type == "public" }?.ip_address, privateIPv4: v4.first { $0.type == "private" }?.ip_address,
            size: droplet.size_slug, image: droplet.image?.slug ?? droplet.image?.id.map(String.init), location: droplet.region?.slug)
    }

    /// The common state of a droplet status.
    static func state(of status: String) -> MachineState {
        switch status {
        case "new": .starting
        case "active": .running
        case "off": .stopped
        case "archive": .notFound
        default: .unknown
        }
    }

    /// `key:value`: DigitalOcean tags are plain names.
    static func tag(_ pair: (key: String, value: String)) -> String {
        "\(pair.key):\(pair.value)"
    }

    /// Firewall names allow letters, digits, `.` and `-` only.
    static func firewallName(_ name: String) -> String {
        name.replacingOccurrences(of: "_", with: "-")
    }

    /// A numeric id (droplets, actions, keys); anything else never reaches a URL.
    static func number(_ id: String) throws(CloudAPIError) -> Int {
        guard let number = Int(id), number > 0 else {
            throw .malformedResponse(provider: "DigitalOcean", request: "id \(id)", detail: "not a DigitalOcean numeric id")
        }
        return number
    }
}
