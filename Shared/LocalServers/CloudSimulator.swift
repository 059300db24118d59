package import Foundation
import Synchronization

/// The cloud provider APIs ``CloudSimulator`` serves.
package enum CloudProvider: String, Sendable, CaseIterable {
    case digitalOcean = "digitalocean"
    case hetzner
}

/// Everything one simulator account holds, as the simulator's admin API reports it: what a test checks
/// to prove a driver left nothing behind.
package struct CloudInventory: Sendable, Equatable, Decodable {
    package struct Server: Sendable, Equatable, Decodable {
        package var id: Int
        package var name: String
        /// In the provider's vocabulary (`new`/`active`/`off`; `initializing`/`starting`/`running`/`off` …).
        package var status: String
        /// DigitalOcean tags (empty for Hetzner).
        package var tags: [String]
        /// Hetzner labels (empty for DigitalOcean).
        package var labels: [String: String]
        /// The public IPv4 address: a loopback address whose port 22 is the server's sshd.
        package var ipv4: String
    }

    package struct SSHKey: Sendable, Equatable, Decodable {
        package var id: Int
        package var name: String
        package var fingerprint: String
    }

    package struct Firewall: Sendable, Equatable, Decodable {
        /// DigitalOcean's UUID or Hetzner's number, as text.
        package var id: String
        package var name: String
    }

    package var servers: [Server]
    package var sshKeys: [SSHKey]
    package var firewalls: [Firewall]
    /// DigitalOcean tags (they outlive the droplets that carried them).
    package var tags: [String]

    /// True when the account holds nothing at all.
    package var isEmpty: Bool { servers.isEmpty && sshKeys.isEmpty && firewalls.isEmpty && tags.isEmpty }

    /// No server, key or firewall, no tag but the tenant's: what a driver leaves after removing every
    /// cluster (DigitalOcean keeps the tenant's tag: other clusters of the tenant may be under way,
    /// and deleting a tag untags their droplets).
    package var holdsNothingOfAnyCluster: Bool {
        servers.isEmpty && sshKeys.isEmpty && firewalls.isEmpty && tags.allSatisfy { $0.hasPrefix("paz-tenant:") }
    }

    enum CodingKeys: String, CodingKey {
        case servers, sshKeys = "ssh_keys", firewalls, tags
    }
}

/// A stateful DigitalOcean API v2 and Hetzner Cloud API v1 simulator (`CloudSimulator/cloudsim`, Python,
/// run with the python3 on PATH that `deploy/install-deps.sh` installs openapi-core for) on 127.0.0.1 and a
/// free port. Every provider request and response is validated against the providers' OpenAPI documents;
/// failures are answered loudly and listed by ``violations()``. Every server is a real sshd on a loopback
/// address of its own, configured from the user data (cloud-init or Ignition) and the registered SSH keys.
/// Each bearer token from ``makeAccount(provider:serverLimit:)`` is an isolated account. See
/// `CloudSimulator/README.md` for the behaviour and the admin API.
package final class CloudSimulator: Sendable {
    /// How the simulator behaves.
    package struct Options: Sendable {
        /// How long provider actions (create, power on/off, reboot) take.
        package var actionSeconds: Double
        /// A new server appears in list calls only this long after its creation (GET by id works at once).
        package var listingDelaySeconds: Double
        /// The largest `per_page` honoured, to force pagination.
        package var pageSizeLimit: Int
        /// How long to wait for the simulator to listen.
        package var startTimeout: Duration

        package init(
            actionSeconds: Double = 1.0, listingDelaySeconds: Double = 0.3, pageSizeLimit: Int = 5,
            startTimeout: Duration = .seconds(60)
        ) {
            self.actionSeconds = actionSeconds
            self.listingDelaySeconds = listingDelaySeconds
            self.pageSizeLimit = pageSizeLimit
            self.startTimeout = startTimeout
        }
    }

    /// Always 127.0.0.1.
    package let host = "127.0.0.1"
    /// The TCP port of both APIs and the admin API.
    package let port: Int
    package let options: Options
    /// The simulator's log and, under `state/`, each server's sshd config, keys and log.
    package let directory: URL
    private let running: Mutex<ManagedProcess?>

    /// `http://127.0.0.1:PORT/digitalocean`: a DigitalOcean client appends `/v2/droplets` etc.
    package var digitalOceanEndpoint: String { "http://\(host):\(port)/digitalocean" }
    /// `http://127.0.0.1:PORT/hetzner/v1`: a Hetzner client appends `/servers` etc.
    package var hetznerEndpoint: String { "http://\(host):\(port)/hetzner/v1" }
    /// `http://127.0.0.1:PORT`: the admin API lives under `/_sim/`.
    package var baseURL: String { "http://\(host):\(port)" }

    /// The running process (nil once stopped), for `FixtureCleanup` and diagnostics.
    package var process: ManagedProcess? { running.withLock { $0 } }
    /// The simulator's log (requests, violations, sshd starts; never tokens or keys).
    package var logFile: URL { directory.appendingPathComponent("cloudsim.log") }

    /// Where the Python package is: the `CloudSimulator` resource of this module.
    package static var programDirectory: URL? {
        Bundle.module.url(forResource: "CloudSimulator", withExtension: nil)
    }

    /// Starts the simulator and returns once its admin API answers.
    package static func start(options: Options = Options()) async throws(LocalServerError) -> CloudSimulator {
        guard let program = programDirectory else {
            throw .filesystem("the CloudSimulator resource is missing from the PazLocalServers bundle")
        }
        let directory = try ScratchDirectory.make(prefix: "paz-cloudsim")
        let port = try LoopbackNetwork.freePort()
        let process = try ManagedProcess(
            executable: "python3",
            arguments: [
                "-m", "cloudsim", "--port", "\(port)", "--state-dir", directory.appendingPathComponent("state").path,
                "--action-seconds", "\(options.actionSeconds)", "--listing-delay-seconds", "\(options.listingDelaySeconds)",
                "--page-size-limit", "\(options.pageSizeLimit)",
            ],
            environment: ["PYTHONPATH": program.path, "PYTHONDONTWRITEBYTECODE": "1"],
            logFile: directory.appendingPathComponent("cloudsim.log")
        )
        let simulator = CloudSimulator(port: port, options: options, directory: directory, process: process)
        do {
            try await LoopbackNetwork.waitUntilListening(
                host: "127.0.0.1", port: port, timeout: options.startTimeout, whileRunning: process, server: "cloudsim"
            )
            _ = try await simulator.admin("GET", "/_sim/health", [:])
            return simulator
        } catch {
            await process.kill()
            throw error
        }
    }

    private init(port: Int, options: Options, directory: URL, process: ManagedProcess) {
        self.port = port
        self.options = options
        self.directory = directory
        self.running = Mutex(process)
    }

    /// A fresh account of `provider` that may hold at most `serverLimit` servers: its bearer token.
    package func makeAccount(provider: CloudProvider, serverLimit: Int = 25) async throws(LocalServerError) -> String {
        let reply = try await admin("POST", "/_sim/accounts", ["provider": provider.rawValue, "server_limit": serverLimit])
        guard let token = reply["token"] as? String else {
            throw .requestFailed(server: "cloudsim", request: "POST /_sim/accounts", reason: "no token in the answer")
        }
        return token
    }

    /// Everything the account holds right now (servers whether or not list calls show them yet).
    package func inventory(provider: CloudProvider, token: String) async throws(LocalServerError) -> CloudInventory {
        let data = try await adminData("POST", "/_sim/inventory", ["provider": provider.rawValue, "token": token])
        do {
            return try JSONDecoder().decode(CloudInventory.self, from: data)
        } catch {
            throw .requestFailed(server: "cloudsim", request: "POST /_sim/inventory", reason: "undecodable answer: \(error)")
        }
    }

    /// The next `count` requests of the account whose method is `method` (`"*"`: any) and whose provider
    /// path (`/v2/droplets`, `/servers/42`; without the endpoint's prefix) matches the regular expression
    /// `pathPattern` are answered with `status` and the provider's error body; a 429 carries the rate-limit
    /// headers and, with `retryAfterSeconds`, `Retry-After`.
    package func injectFaults(
        provider: CloudProvider, token: String, method: String, pathPattern: String, status: Int, count: Int = 1,
        retryAfterSeconds: Int? = nil
    ) async throws(LocalServerError) {
        var body: [String: Any] = [
            "provider": provider.rawValue, "token": token, "method": method, "path_pattern": pathPattern,
            "status": status, "count": count,
        ]
        if let retryAfterSeconds { body["retry_after_seconds"] = retryAfterSeconds }
        _ = try await admin("POST", "/_sim/faults", body)
    }

    /// Every request and response, of any account, that failed validation since the start.
    package func violations() async throws(LocalServerError) -> [String] {
        try await admin("POST", "/_sim/violations", [:])["violations"] as? [String] ?? []
    }

    /// The violations of one account's requests (tests sharing a simulator check their own).
    package func violations(provider: CloudProvider, token: String) async throws(LocalServerError) -> [String] {
        try await admin("POST", "/_sim/violations", ["provider": provider.rawValue, "token": token])["violations"]
            as? [String] ?? []
    }

    /// Stops the simulator (SIGTERM: it stops every server's sshd first, then SIGKILL). Its log stays.
    package func stop() async {
        let process = running.withLock { current in
            defer { current = nil }
            return current
        }
        await process?.stop()
    }

    private func admin(_ method: String, _ path: String, _ body: [String: Any]) async throws(LocalServerError) -> [String: Any] {
        let data = try await adminData(method, path, body)
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw .requestFailed(server: "cloudsim", request: "\(method) \(path)", reason: "answer is not a JSON object")
        }
        return object
    }

    private func adminData(_ method: String, _ path: String, _ body: [String: Any]) async throws(LocalServerError) -> Data {
        let text: String
        do {
            text = String(decoding: try JSONSerialization.data(withJSONObject: body), as: UTF8.self)
        } catch {
            throw .invalidSetting("admin request body: \(error)")
        }
        let reply = try await LoopbackHTTP.send(
            method, baseURL + path, headers: [("Content-Type", "application/json")], body: method == "GET" ? "" : text,
            timeout: options.startTimeout, server: "cloudsim"
        )
        guard (200..<300).contains(reply.status) else {
            throw .requestFailed(server: "cloudsim", request: "\(method) \(path)", reason: "status \(reply.status): \(reply.body.prefix(300))")
        }
        return Data(reply.body.utf8)
    }
}
