import Foundation
import PazLocalServers
import PazTestSupport
import Testing

/// The simulator itself, through real HTTP (PazHTTP) and real SSH: what the DigitalOcean and Hetzner
/// driver tests rely on. Each test works in accounts of its own on the shared simulator.
@Suite struct CloudSimulatorTests {
    static let user = "paz-sim"

    /// What `CloudInitConfig`/`IgnitionConfig` write for sshd: the host key and a drop-in that uses it.
    static func guestFiles(hostKey: String) -> [(path: String, contents: String, mode: Int)] {
        [
            ("/etc/ssh/paz_host_key", hostKey, 0o600),
            ("/etc/ssh/sshd_config.d/00-paz.conf", "HostKey /etc/ssh/paz_host_key\nPasswordAuthentication no\n", 0o644),
        ]
    }

    static func cloudConfig(hostKey: String, authorizedKeys: [String]) throws -> String {
        let document: [String: Any] = [
            "hostname": "sim", "users": [["name": user, "ssh_authorized_keys": authorizedKeys, "shell": "/bin/bash"]],
            "write_files": guestFiles(hostKey: hostKey).map {
                ["path": $0.path, "content": $0.contents, "permissions": "0" + String($0.mode, radix: 8), "owner": "root:root"]
            },
        ]
        let json = try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys, .withoutEscapingSlashes])
        return "#cloud-config\n" + String(decoding: json, as: UTF8.self) + "\n"
    }

    static func ignition(hostKey: String, authorizedKeys: [String]) throws -> String {
        let document: [String: Any] = [
            "ignition": ["version": "3.4.0"],
            "passwd": ["users": [["name": user, "sshAuthorizedKeys": authorizedKeys, "groups": ["sudo"]]]],
            "storage": ["files": guestFiles(hostKey: hostKey).map {
                ["path": $0.path, "mode": $0.mode, "overwrite": true,
                 "contents": ["source": "data:;base64," + Data($0.contents.utf8).base64EncodedString()]] as [String: Any]
            }],
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: document, options: [.sortedKeys]), as: UTF8.self)
    }

    /// A scratch directory with a host key pair and a client key pair, and a known_hosts file for `address`.
    struct Keys {
        let directory: URL
        let host: (file: String, publicKey: String)
        let client: (file: String, publicKey: String)
        let registered: (file: String, publicKey: String)

        init() async throws {
            directory = try ScratchDirectory.make(prefix: "cloudsim-test")
            host = try await Shell.keyPair(in: directory, name: "host")
            client = try await Shell.keyPair(in: directory, name: "client")
            registered = try await Shell.keyPair(in: directory, name: "registered")
        }

        var hostPrivateKey: String { get throws { try String(contentsOfFile: host.file, encoding: .utf8) } }

        /// The host public key without its comment, as `ssh-keyscan` shows it.
        var hostKey: String { host.publicKey.split(separator: " ").prefix(2).joined(separator: " ") }

        func knownHosts(for address: String) throws -> String {
            let file = directory.appendingPathComponent("known_hosts-\(address)").path
            try "\(address) \(host.publicKey)\n".write(toFile: file, atomically: true, encoding: .utf8)
            return file
        }
    }

    /// A list answered within the listing delay of the create being sent must be empty; on a loaded
    /// machine the answer may come later, and then proves nothing either way.
    private static func expectEmptyIfWithinListingDelay(_ list: [[String: Any]], since posted: ContinuousClock.Instant) {
        guard ContinuousClock.now - posted < .seconds(CloudSimulator.Options().listingDelaySeconds) else { return }
        #expect(list.isEmpty)
    }

    @Test func dropletLifecycleWithCloudInitAndRealSSH() async throws {
        let simulator = try await TestCloudSimulator.shared()
        let token = try await simulator.makeAccount(provider: .digitalOcean)
        let api = try CloudAPI(endpoint: simulator.digitalOceanEndpoint, token: token)
        let keys = try await Keys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }

        let key = try await api.send("POST", "/v2/account/keys", ["name": "registered", "public_key": keys.registered.publicKey])
        #expect(key.status == 201)
        let fingerprint = try #require(key["ssh_key"]["fingerprint"] as? String)
        let userData = try Self.cloudConfig(hostKey: try keys.hostPrivateKey, authorizedKeys: [keys.client.publicKey])
        let posted = ContinuousClock.now
        let created = try await api.send("POST", "/v2/droplets", [
            "name": "sim-do-1", "region": "fra1", "size": "s-1vcpu-1gb", "image": "debian-12-x64",
            "ssh_keys": [fingerprint], "tags": ["paz-test"], "user_data": userData,
        ])
        #expect(created.status == 202)
        let droplet = created["droplet"]
        let id = try #require(droplet["id"] as? Int)
        #expect(droplet["status"] as? String == "new")
        #expect(created.header("ratelimit-limit") != nil)

        // The list shows the droplet only after the listing delay; GET by id works at once.
        let early = try await api.send("GET", "/v2/droplets?tag_name=paz-test").list("droplets")
        Self.expectEmptyIfWithinListingDelay(early, since: posted)
        #expect(try await api.send("GET", "/v2/droplets/\(id)").status == 200)
        #expect(try await eventually(timeout: .seconds(3)) {
            try await api.send("GET", "/v2/droplets?tag_name=paz-test").list("droplets").count == 1
        })

        // The create action completes after about actionSeconds, and the droplet is active.
        let actionHref = try #require((created["links"]["actions"] as? [[String: Any]])?.first?["href"] as? String)
        let clock = ContinuousClock.now
        #expect(try await eventually {
            try await api.send("GET", actionHref, absolute: true)["action"]["status"] as? String == "completed"
        })
        // About one second; a loaded CI machine took 4.2 s, so only an action that hangs fails this.
        #expect(ContinuousClock.now - clock < .seconds(10))
        let active = try await api.send("GET", "/v2/droplets/\(id)")["droplet"]
        #expect(active["status"] as? String == "active")
        let networks = try #require((active["networks"] as? [String: Any])?["v4"] as? [[String: Any]])
        let address = try #require(networks.first?["ip_address"] as? String)
        #expect(address.hasPrefix("127."))

        // sshd presents the host key from the user data and lets in both the user data's key and the registered key.
        #expect(try await Shell.hostKeys(address).contains(keys.hostKey))
        let knownHosts = try keys.knownHosts(for: address)
        let viaUserData = try await Shell.login(address, user: Self.user, key: keys.client.file, knownHostsFile: knownHosts)
        #expect(viaUserData.status == 0 && viaUserData.output.contains(Self.user), "\(viaUserData.output)")
        let viaRegistered = try await Shell.login(address, user: Self.user, key: keys.registered.file, knownHostsFile: knownHosts)
        #expect(viaRegistered.status == 0, "\(viaRegistered.output)")

        // Power off: the action completes, the droplet is off and sshd is gone.
        let off = try await api.send("POST", "/v2/droplets/\(id)/actions", ["type": "power_off"])
        #expect(off.status == 201)
        let offId = try #require(off["action"]["id"] as? Int)
        #expect(try await eventually {
            try await api.send("GET", "/v2/droplets/\(id)/actions/\(offId)")["action"]["status"] as? String == "completed"
        })
        #expect(try await api.send("GET", "/v2/droplets/\(id)")["droplet"]["status"] as? String == "off")
        #expect(!LoopbackNetwork.canConnect(host: address, port: 22))

        // Delete everything: nothing is left.
        #expect(try await api.send("DELETE", "/v2/droplets?tag_name=paz-test").status == 204)
        #expect(try await api.send("GET", "/v2/droplets/\(id)").status == 404)
        #expect(try await api.send("DELETE", "/v2/tags/paz-test").status == 204)
        #expect(try await api.send("DELETE", "/v2/account/keys/\(fingerprint)").status == 204)
        #expect(try await simulator.inventory(provider: .digitalOcean, token: token).isEmpty)
        #expect(try await simulator.violations(provider: .digitalOcean, token: token) == [])
        await api.shutdown()
    }

    @Test func hetznerServerLifecycleWithIgnitionFirewallAndLabels() async throws {
        let simulator = try await TestCloudSimulator.shared()
        let token = try await simulator.makeAccount(provider: .hetzner)
        let api = try CloudAPI(endpoint: simulator.hetznerEndpoint, token: token)
        let keys = try await Keys()
        defer { try? FileManager.default.removeItem(at: keys.directory) }

        let key = try await api.send("POST", "/ssh_keys", [
            "name": "registered", "public_key": keys.registered.publicKey, "labels": ["paz": "test"],
        ])
        #expect(key.status == 201)
        let keyId = try #require(key["ssh_key"]["id"] as? Int)
        let coreos = try await api.send("GET", "/images?type=snapshot&label_selector=os%3Dfedora-coreos")
        let image = try #require(coreos.list("images").first?["id"] as? Int)
        let firewall = try await api.send("POST", "/firewalls", [
            "name": "paz-test", "labels": ["paz": "test"],
            "rules": [["direction": "in", "protocol": "tcp", "port": "22", "source_ips": ["0.0.0.0/0"]]],
            "apply_to": [["type": "label_selector", "label_selector": ["selector": "paz=test"]]],
        ])
        #expect(firewall.status == 201)
        let firewallId = try #require(firewall["firewall"]["id"] as? Int)

        let userData = try Self.ignition(hostKey: try keys.hostPrivateKey, authorizedKeys: [keys.client.publicKey])
        let posted = ContinuousClock.now
        let created = try await api.send("POST", "/servers", [
            "name": "sim-hz-1", "server_type": "cx22", "image": "\(image)", "location": "nbg1",
            "ssh_keys": ["registered"], "labels": ["paz": "test", "role": "worker"], "user_data": userData,
        ])
        #expect(created.status == 201)
        let id = try #require(created["server"]["id"] as? Int)
        #expect(created["server"]["status"] as? String == "initializing")
        #expect(created["action"]["command"] as? String == "create_server")
        Self.expectEmptyIfWithinListingDelay(
            try await api.send("GET", "/servers?label_selector=role%3Dworker").list("servers"), since: posted)
        #expect(try await eventually(timeout: .seconds(3)) {
            try await api.send("GET", "/servers?label_selector=paz%3Dtest,role%20in%20(worker,db)").list("servers").count == 1
        })
        let actionId = try #require(created["action"]["id"] as? Int)
        #expect(try await eventually {
            try await api.send("GET", "/actions/\(actionId)")["action"]["status"] as? String == "success"
        })
        let running = try await api.send("GET", "/servers/\(id)")["server"]
        #expect(running["status"] as? String == "running")
        let address = try #require((running["public_net"] as? [String: Any]).flatMap { $0["ipv4"] as? [String: Any] }?["ip"] as? String)
        #expect(try await Shell.hostKeys(address).contains(keys.hostKey))
        let login = try await Shell.login(address, user: Self.user, key: keys.registered.file, knownHostsFile: try keys.knownHosts(for: address))
        #expect(login.status == 0, "\(login.output)")
        let applied = try await api.send("GET", "/firewalls/\(firewallId)")["firewall"]["applied_to"] as? [[String: Any]]
        #expect((applied?.first?["applied_to_resources"] as? [Any])?.count == 1)

        let off = try await api.send("POST", "/servers/\(id)/actions/poweroff")
        #expect(off.status == 201)
        #expect(try await eventually { try await api.send("GET", "/servers/\(id)")["server"]["status"] as? String == "off" })
        #expect(!LoopbackNetwork.canConnect(host: address, port: 22))

        // A firewall still applied cannot be deleted; removed from its resources it can.
        #expect(try await api.send("DELETE", "/firewalls/\(firewallId)")["error"]["code"] as? String == "resource_in_use")
        let removed = try await api.send("POST", "/firewalls/\(firewallId)/actions/remove_from_resources", [
            "remove_from": [["type": "label_selector", "label_selector": ["selector": "paz=test"]]],
        ])
        #expect(removed.status == 201)
        let deleted = try await api.send("DELETE", "/servers/\(id)")
        #expect(deleted.status == 200 && deleted["action"]["command"] as? String == "delete_server")
        #expect(try await api.send("GET", "/servers/\(id)")["error"]["code"] as? String == "not_found")
        #expect(try await api.send("DELETE", "/firewalls/\(firewallId)").status == 204)
        #expect(try await api.send("DELETE", "/ssh_keys/\(keyId)").status == 204)
        #expect(try await simulator.inventory(provider: .hetzner, token: token).isEmpty)
        #expect(try await simulator.violations(provider: .hetzner, token: token) == [])
        await api.shutdown()
    }

    @Test func listsArePaginatedAtThePageSizeLimit() async throws {
        let simulator = try await TestCloudSimulator.shared()
        let token = try await simulator.makeAccount(provider: .digitalOcean)
        let api = try CloudAPI(endpoint: simulator.digitalOceanEndpoint, token: token)
        let names = (1...7).map { "sim-page-\($0)" }
        let created = try await api.send("POST", "/v2/droplets", [
            "names": names, "region": "ams3", "size": "s-1vcpu-512mb-10gb", "image": "ubuntu-24-04-x64", "tags": ["page"],
        ])
        #expect(created.status == 202)
        #expect(created.list("droplets").count == 7)
        try await Task.sleep(for: .milliseconds(400))
        var seen: [String] = []
        var next: String? = simulator.digitalOceanEndpoint + "/v2/droplets?tag_name=page&per_page=200"
        var pages = 0
        while let url = next, pages < 10 {
            let page = try await api.send("GET", url, absolute: true)
            #expect(page.list("droplets").count <= simulator.options.pageSizeLimit)
            #expect(page["meta"]["total"] as? Int == 7)
            seen += page.list("droplets").compactMap { $0["name"] as? String }
            next = (page["links"]["pages"] as? [String: Any])?["next"] as? String
            pages += 1
        }
        #expect(pages == 2)
        #expect(seen.sorted() == names.sorted())
        #expect(try await api.send("DELETE", "/v2/droplets?tag_name=page").status == 204)
        #expect(try await api.send("DELETE", "/v2/tags/page").status == 204)
        #expect(try await simulator.inventory(provider: .digitalOcean, token: token).isEmpty)
        #expect(try await simulator.violations(provider: .digitalOcean, token: token) == [])
        await api.shutdown()
    }

    @Test func injectedFaultsAnswerWithRetryAfterThenRecover() async throws {
        let simulator = try await TestCloudSimulator.shared()
        let doToken = try await simulator.makeAccount(provider: .digitalOcean)
        let digitalOcean = try CloudAPI(endpoint: simulator.digitalOceanEndpoint, token: doToken)
        try await simulator.injectFaults(
            provider: .digitalOcean, token: doToken, method: "GET", pathPattern: "^/v2/droplets$", status: 429, count: 1,
            retryAfterSeconds: 7
        )
        let limited = try await digitalOcean.send("GET", "/v2/droplets")
        #expect(limited.status == 429)
        #expect(limited.header("Retry-After") == "7")
        #expect(limited.header("ratelimit-remaining") == "0")
        #expect(limited.json["id"] as? String == "too_many_requests")
        #expect(try await digitalOcean.send("GET", "/v2/droplets").status == 200)

        let hzToken = try await simulator.makeAccount(provider: .hetzner)
        let hetzner = try CloudAPI(endpoint: simulator.hetznerEndpoint, token: hzToken)
        try await simulator.injectFaults(provider: .hetzner, token: hzToken, method: "*", pathPattern: "^/servers", status: 503, count: 2)
        #expect(try await hetzner.send("GET", "/servers").status == 503)
        #expect(try await hetzner.send("GET", "/servers")["error"]["code"] as? String == "unavailable")
        #expect(try await hetzner.send("GET", "/servers").status == 200)
        #expect(try await simulator.violations(provider: .digitalOcean, token: doToken) == [])
        #expect(try await simulator.violations(provider: .hetzner, token: hzToken) == [])
        await digitalOcean.shutdown()
        await hetzner.shutdown()
    }

    @Test func unknownTokensAreUnauthorized() async throws {
        let simulator = try await TestCloudSimulator.shared()
        let digitalOcean = try CloudAPI(endpoint: simulator.digitalOceanEndpoint, token: "dop_v1_nobody")
        let denied = try await digitalOcean.send("GET", "/v2/account")
        #expect(denied.status == 401)
        #expect(denied.json["id"] as? String == "Unauthorized")
        let hetzner = try CloudAPI(endpoint: simulator.hetznerEndpoint, token: "nobody")
        let refused = try await hetzner.send("GET", "/servers")
        #expect(refused.status == 401)
        #expect(refused["error"]["code"] as? String == "unauthorized")
        // A Hetzner token is no DigitalOcean token.
        let hzToken = try await simulator.makeAccount(provider: .hetzner)
        #expect(try await CloudAPI(endpoint: simulator.digitalOceanEndpoint, token: hzToken).send("GET", "/v2/account").status == 401)
        await digitalOcean.shutdown()
        await hetzner.shutdown()
    }

    @Test func serverLimitsAreEnforced() async throws {
        let simulator = try await TestCloudSimulator.shared()
        let doToken = try await simulator.makeAccount(provider: .digitalOcean, serverLimit: 1)
        let digitalOcean = try CloudAPI(endpoint: simulator.digitalOceanEndpoint, token: doToken)
        #expect(try await digitalOcean.send("GET", "/v2/account")["account"]["droplet_limit"] as? Int == 1)
        let tooMany = try await digitalOcean.send("POST", "/v2/droplets", [
            "names": ["sim-a", "sim-b"], "region": "nyc3", "size": "s-1vcpu-1gb", "image": "debian-12-x64",
        ])
        #expect(tooMany.status == 422)
        #expect(tooMany.json["id"] as? String == "unprocessable_entity")

        let hzToken = try await simulator.makeAccount(provider: .hetzner, serverLimit: 1)
        let hetzner = try CloudAPI(endpoint: simulator.hetznerEndpoint, token: hzToken)
        let server = ["server_type": "cx22", "image": "debian-12", "location": "fsn1"]
        let first = try await hetzner.send("POST", "/servers", server.merging(["name": "sim-a"]) { $1 })
        #expect(first.status == 201)
        let second = try await hetzner.send("POST", "/servers", server.merging(["name": "sim-b"]) { $1 })
        #expect(second.status == 403)
        #expect(second["error"]["code"] as? String == "resource_limit_exceeded")
        let id = try #require(first["server"]["id"] as? Int)
        #expect(try await hetzner.send("DELETE", "/servers/\(id)").status == 200)
        #expect(try await simulator.inventory(provider: .hetzner, token: hzToken).isEmpty)
        #expect(try await simulator.violations(provider: .digitalOcean, token: doToken) == [])
        #expect(try await simulator.violations(provider: .hetzner, token: hzToken) == [])
        await digitalOcean.shutdown()
        await hetzner.shutdown()
    }

    @Test func malformedRequestsAreRefusedAndRecorded() async throws {
        let simulator = try await TestCloudSimulator.shared()
        let token = try await simulator.makeAccount(provider: .digitalOcean)
        let api = try CloudAPI(endpoint: simulator.digitalOceanEndpoint, token: token)
        let withoutSize = try await api.send("POST", "/v2/droplets", ["name": "sim-bad", "region": "nyc3", "image": "debian-12-x64"])
        #expect(withoutSize.status == 400)
        #expect(withoutSize.json["id"] as? String == "simulator_request_invalid")
        let mine = try await simulator.violations(provider: .digitalOcean, token: token)
        #expect(mine.count == 1)
        #expect(mine.first?.contains("POST /v2/droplets") == true)
        #expect(try await simulator.violations().contains(mine[0]))
        #expect(try await simulator.inventory(provider: .digitalOcean, token: token).isEmpty)
        await api.shutdown()
    }
}
