import Foundation
import PazCloudDriver
@testable import PazDigitalOceanDriver
@testable import PazHetznerDriver
import PazDriverKit
import PazHTTP
import PazSchemas
import Testing

/// The cloud driver's option parsing, endpoint rule and the DigitalOcean mapping, without a server.
struct CloudDriverUnitTests {
    static let base: [String: JSONValue] = ["ssh-cidr": "203.0.113.0/24"]

    @Test("defaults come from the provider; the create's size, image and location win over options")
    func optionDefaults() throws {
        let options = try CloudOptions(Self.base, provider: .digitalOcean, secrets: ["token": "t0k"])
        #expect(options.endpoint == "https://api.digitalocean.com" && options.region == "nyc3")
        #expect(options.size == "s-1vcpu-1gb" && options.image == "debian-12-x64" && options.sshUser == "paz")
        #expect(options.readyWhen == .ssh && options.bootTimeout == .seconds(600) && options.authorizedKey == nil)
        let given = try CloudOptions(
            Self.base.merging(["region": "ams3", "size": "s-2vcpu-2gb"]) { $1 }, provider: .digitalOcean, secrets: ["token": "t"],
            size: "s-4vcpu-8gb", image: "ubuntu-24-04-x64", location: "fra1")
        #expect(given.region == "fra1" && given.size == "s-4vcpu-8gb" && given.image == "ubuntu-24-04-x64")
        #expect("\(options.token)" == "CloudToken(redacted)")
    }

    @Test("bad options are refused naming the option", arguments: [
        ([:], [:], "token"),
        (base, ["token": "two words"], "token"),
        (["ssh-cidr": "203.0.113.0"], ["token": "t"], "ssh-cidr"),
        ([:], ["token": "t"], "ssh-cidr"),
        (base.merging(["ssh-user": "root"]) { $1 }, ["token": "t"], "ssh-user"),
        (base.merging(["authorized-key": "not a key"]) { $1 }, ["token": "t"], "authorized-key"),
        (base.merging(["endpoint": "ftp://x"]) { $1 }, ["token": "t"], "endpoint"),
        (base.merging(["size": "../../v2/account"]) { $1 }, ["token": "t"], "size"),
        (base.merging(["guest-config": "kickstart"]) { $1 }, ["token": "t"], "guest-config"),
    ] as [([String: JSONValue], [String: String], String)])
    func refusals(values: [String: JSONValue], secrets: [String: String], field: String) {
        #expect {
            _ = try CloudOptions(values, provider: .digitalOcean, secrets: secrets)
        } throws: { error in
            guard case .invalidArgument(let named, _) = error as? DriverError else { return false }
            return named == field
        }
    }

    @Test("only the provider's endpoint and the operator's prefixes receive the token")
    func endpointRule() throws {
        let closed = CloudSettings(driver: "digitalocean", providerEndpoint: false)
        #expect(throws: DriverError.self) { try closed.check("https://api.digitalocean.com", provider: .digitalOcean) }
        let open = CloudSettings(driver: "digitalocean", endpointPrefixes: [try #require(URLPrefix("http://127.0.0.1:8080/digitalocean"))])
        try open.check("https://api.digitalocean.com", provider: .digitalOcean)
        try open.check("http://127.0.0.1:8080/digitalocean", provider: .digitalOcean)
        #expect(throws: DriverError.self) { try open.check("http://127.0.0.1:8081/digitalocean", provider: .digitalOcean) }
    }

    @Test("a droplet is read as a server: paz tags as labels, the public address, the common state")
    func dropletMapping() throws {
        let json = """
            {"id": 42, "name": "web-1", "status": "off", "tags": ["paz-tenant:tnt_a", "paz-machine:mch_b", "other"],
             "networks": {"v4": [{"ip_address": "10.1.0.2", "type": "private"}, {"ip_address": "127.100.0.7", "type": "public"}]},
             "size_slug": "s-1vcpu-1gb", "image": {"id": 7, "slug": "debian-12-x64"}, "region": {"slug": "nyc3"}}
            """
        let droplet = try JSONDecoder().decode(DigitalOcean.Droplet.self, from: Data(json.utf8))
        let server = DigitalOceanAPI.server(droplet)
        #expect(server.id == "42" && server.state == .stopped && server.machine == "mch_b")
        #expect(server.labels == ["paz-tenant": "tnt_a", "paz-machine": "mch_b"])
        #expect(server.publicIPv4 == "127.100.0.7" && server.privateIPv4 == "10.1.0.2")
        #expect(server.image == "debian-12-x64" && server.location == "nyc3")
        #expect(DigitalOceanAPI.state(of: "new") == .starting && DigitalOceanAPI.state(of: "active") == .running)
        #expect(DigitalOceanAPI.firewallName("paz-cls_01ab") == "paz-cls-01ab")
        #expect(throws: CloudAPIError.self) { try DigitalOceanAPI.number("../account") }
    }

    @Test("provider errors map to errors a user can act on")
    func errorMapping() {
        func mapped(_ status: Int) -> DriverError {
            CloudAPIError.status(provider: "DigitalOcean", request: "GET /v2/account", status: status, code: "x", message: "m").driverError
        }
        guard case .invalidCredentials(let message) = mapped(401) else { Issue.record("401"); return }
        #expect(message.contains("token"))
        #expect(mapped(429).isRetriable && mapped(503).isRetriable && !mapped(422).isRetriable)
        guard case .notFound = mapped(404), case .invalidArgument = mapped(422) else { Issue.record("404/422"); return }
        #expect(CloudAPIError.transport(provider: "DigitalOcean", request: "GET /", detail: "refused").driverError.isRetriable)
    }

    @Test("RateLimit-Reset: a Unix time or delay-seconds, capped; Retry-After first")
    func rateLimitReset() {
        let now = Date(timeIntervalSince1970: 2_000_000_000)
        #expect(RetryPolicy.parseRateLimitReset("2000000007", now: now) == .seconds(7))
        #expect(RetryPolicy.parseRateLimitReset("1999999990", now: now) == .seconds(0))
        #expect(RetryPolicy.parseRateLimitReset("3", now: now) == .seconds(3))
        #expect(RetryPolicy.parseRateLimitReset("soon", now: now) == nil)
        let policy = RetryPolicy(maximumRetryAfter: .seconds(30))
        let throttled = HTTPResponse(status: 429, headers: ["RateLimit-Reset": "2000000100"], body: Data(), totalSeconds: 0)
        #expect(policy.delay(afterAttempt: 1, response: throttled, now: now) == .seconds(30))
        let both = HTTPResponse(status: 429, headers: ["RateLimit-Reset": "2000000100", "Retry-After": "2"], body: Data(), totalSeconds: 0)
        #expect(policy.delay(afterAttempt: 1, response: both, now: now) == .seconds(2))
    }
}

/// The Hetzner mapping, without a server.
struct HetznerMappingTests {
    @Test("a server is read with its paz labels, public address and common state; selectors require every label")
    func serverMapping() throws {
        let json = """
            {"id": 7, "name": "db-1", "status": "initializing", "labels": {"paz-tenant": "tnt_a", "paz-machine": "mch_b", "team": "x"},
             "public_net": {"ipv4": {"ip": "127.101.0.3"}}, "private_net": [], "server_type": {"name": "cx22"},
             "image": {"id": 3, "name": "debian-12"}, "location": {"name": "fsn1"}}
            """
        let server = HetznerAPI.server(try JSONDecoder().decode(Hetzner.Server.self, from: Data(json.utf8)))
        #expect(server.id == "7" && server.state == .starting && server.labels == ["paz-tenant": "tnt_a", "paz-machine": "mch_b"])
        #expect(server.publicIPv4 == "127.101.0.3" && server.size == "cx22" && server.image == "debian-12" && server.location == "fsn1")
        #expect(HetznerAPI.state(of: "running") == .running && HetznerAPI.state(of: "off") == .stopped)
        let labels = CloudLabels(tenant: try TenantID("tnt_a"), cluster: try ClusterID("cls_c"))
        #expect(HetznerAPI.selector(labels) == "paz-tenant=tnt_a,paz-cluster=cls_c")
        #expect(HetznerAPI.labels(labels) == ["paz-tenant": "tnt_a", "paz-cluster": "cls_c"])
    }
}
