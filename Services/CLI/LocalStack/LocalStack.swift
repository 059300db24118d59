package import Foundation
import Logging
import PazGatewayAPI
import PazHTTP
import PazLocalServers
package import PazSchemas
import PazSecrets

/// The whole control plane on this computer, under one data directory: redis-server (AOF) and
/// rabbitmq-server, then `paz-ssh-broker`, `paz-gateway`, `paz-status-collector`, `paz-driver-generic`,
/// `paz-driver-qemu`, `paz-driver-ec2`, `paz-driver-digitalocean` and `paz-driver-hetzner` (found next to `paz-machine`), all on 127.0.0.1, as background process groups recorded in `stack.json`.
/// Each service logs in to RabbitMQ and Redis as a user of its own with only its permissions
/// (``StackCredentials``); RabbitMQ's `guest` is deleted and Redis's `default` user has a password.
package struct LocalStack: Sendable {
    /// The service executables `up` starts, in order, with the ops port each uses.
    package static let services = [
        "paz-ssh-broker", "paz-gateway", "paz-status-collector", "paz-driver-generic", "paz-driver-qemu", "paz-driver-ec2",
        "paz-driver-digitalocean", "paz-driver-hetzner",
    ]
    /// The service kind of each of ``services``: each logs in to RabbitMQ and Redis as its own user,
    /// named like its executable (docs/security.md).
    package static let serviceKinds: [ServiceKind] = [
        .sshBroker, .gateway, .statusCollector, .driver("generic"), .driver("qemu"), .driver("ec2"), .driver("digitalocean"),
        .driver("hetzner"),
    ]
    /// The tenant `up` creates for the CLI.
    package static let tenant = "default"

    package let dataDirectory: URL
    package let context: CLIContext

    package init(dataDirectory: URL, context: CLIContext) {
        self.dataDirectory = dataDirectory
        self.context = context
    }

    /// `$XDG_DATA_HOME/paz-machine`; else `/var/lib/paz-machine` for root (whose home the broker's
    /// `rabbitmq` user cannot enter) and `~/.local/share/paz-machine` for everyone else.
    package static func defaultDataDirectory(environment: [String: String], isRoot: Bool = getuid() == 0) -> URL {
        if let base = environment["XDG_DATA_HOME"], !base.isEmpty {
            return URL(fileURLWithPath: base).appendingPathComponent("paz-machine")
        }
        if isRoot { return URL(fileURLWithPath: "/var/lib/paz-machine") }
        return URL(fileURLWithPath: (environment["HOME"] ?? NSHomeDirectory()) + "/.local/share/paz-machine")
    }

    package var stateFile: URL { dataDirectory.appendingPathComponent("stack.json") }
    package var masterKeyFile: URL { dataDirectory.appendingPathComponent("master.key") }
    package var adminTokenFile: URL { dataDirectory.appendingPathComponent("admin-token") }
    package var logDirectory: URL { dataDirectory.appendingPathComponent("logs") }
    /// The RabbitMQ and Redis passwords of the services and the operator (``StackCredentials``), mode 0600.
    package var credentialsFile: URL { dataDirectory.appendingPathComponent("credentials.json") }

    // MARK: up

    /// How many of each part the stack runs.
    package enum Topology: String, Codable, Sendable, CaseIterable {
        /// One redis-server, one rabbitmq-server and one process of each service.
        case single
        /// The cluster topology on loopback (docs/deploy.md, "The cluster topology on one machine"): a
        /// 3-node RabbitMQ cluster, Redis primary + replica + 3 Sentinels, 2 replicas of each service,
        /// HAProxy in front of the 2 gateways.
        case ha
    }

    /// Starts the stack (or finds it running), makes sure the CLI is logged in to it, and returns its
    /// state. A data directory keeps the topology it was first started with.
    package func up(topology: Topology = .single) async throws(CLIError) -> StackState {
        try makeDirectory(dataDirectory)
        try checkBrokerCanReach(dataDirectory)
        try makeDirectory(logDirectory)
        var state: StackState
        if let saved = try StackState.load(from: stateFile) {
            guard saved.topology == topology else {
                throw .localStack("the stack in \(dataDirectory.path) has the \(saved.topology.rawValue) topology, not "
                    + "\(topology.rawValue): run `paz-machine up --topology \(saved.topology.rawValue)`, or choose another --data-dir")
            }
            state = saved
        } else {
            state = StackState(ports: try Self.freePorts(), ha: topology == .ha ? try Self.freeClusterPorts() : nil)
        }
        if !state.processes.isEmpty {
            if state.processes.allSatisfy(\.isAlive) {
                context.note("the local stack is already running (data in \(dataDirectory.path))")
                try await login(state)
                return state
            }
            let dead = state.processes.filter { !$0.isAlive }.map(\.name).joined(separator: ", ")
            context.note("the local stack is partly running (\(dead) stopped): restarting it")
            state = await stop(state)
            try state.save(to: stateFile)
        }
        do {
            try await start(&state)
        } catch {
            context.note("stopping what was started…")
            state = await stop(state)
            try? state.save(to: stateFile)
            throw error
        }
        try await login(state)
        return state
    }

    private func start(_ state: inout StackState) async throws(CLIError) {
        if state.ports.brokerOps == nil { state.ports.brokerOps = try Self.freePort() }
        if state.ports.qemuDriverOps == nil { state.ports.qemuDriverOps = try Self.freePort() }
        if state.ports.ec2DriverOps == nil { state.ports.ec2DriverOps = try Self.freePort() }
        if state.ports.digitalOceanDriverOps == nil { state.ports.digitalOceanDriverOps = try Self.freePort() }
        if state.ports.hetznerDriverOps == nil { state.ports.hetznerDriverOps = try Self.freePort() }
        for port in Self.allPorts(state) where LoopbackNetwork.canConnect(host: "127.0.0.1", port: port) {
            throw .localStack("port 127.0.0.1:\(port) of the local stack is taken by another program: stop it, "
                + "or remove \(stateFile.path) so that `paz-machine up` picks new ports")
        }

        let credentials = try StackCredentials.loadOrCreate(at: credentialsFile, kinds: Self.serviceKinds)
        let servers = switch state.topology {
        case .single: try await startServers(&state, credentials: credentials)
        case .ha: try await startClusterServers(&state, credentials: credentials)
        }
        context.note("RabbitMQ and Redis users: one per service, passwords in \(credentialsFile.path); guest removed")

        try ensureSecrets()
        let launches = try serviceLaunches(state, servers: servers, credentials: credentials)
        for launch in launches {
            let log = logDirectory.appendingPathComponent("\(launch.name).log")
            let process: ManagedProcess
            do {
                process = try ManagedProcess(
                    executable: launch.executable.path, arguments: [], environment: launch.environment, logFile: log,
                    workingDirectory: dataDirectory)
            } catch {
                throw .localStack("\(launch.name) could not be started: \(error)")
            }
            state.processes.append(.init(name: launch.name, pid: process.pid, isServer: false, log: log.path))
            try state.save(to: stateFile)
            context.note("started \(launch.name) (pid \(process.pid), log \(log.path))")
        }
        for launch in launches {
            try await waitUntilReady(launch.name, port: launch.opsPort, state: state)
        }
        if let ha = state.ha {
            try await startProxy(&state, ha: ha)
        }
        try await waitUntilReady("paz-gateway", port: state.ports.gateway, state: state)
    }

    /// The single topology's servers: one redis-server (AOF) and one rabbitmq-server, with the
    /// services' users.
    private func startServers(_ state: inout StackState, credentials: StackCredentials) async throws(CLIError) -> ServerAddresses {
        let ports = state.ports
        context.note("starting redis-server on 127.0.0.1:\(ports.redis)…")
        let redisOptions = RedisServer.Options(
            appendOnly: true, password: credentials.redisAdminPassword, users: try credentials.redisUsers(Self.serviceKinds))
        let directory = try subdirectory("redis")
        _ = try await startServer("redis-server", in: &state) { () async throws(LocalServerError) in
            let redis = try await RedisServer.start(dataDirectory: directory, port: ports.redis, options: redisOptions)
            return (redis, redis.process)
        }

        context.note("starting rabbitmq-server on 127.0.0.1:\(ports.amqp)…")
        let rabbit: RabbitMQServer
        do {
            rabbit = try await RabbitMQServer.start(dataDirectory: try subdirectory("rabbitmq"), port: ports.amqp)
        } catch {
            throw .localStack("rabbitmq-server did not start: \(error)")
        }
        for (index, process) in rabbit.processes.enumerated() {
            state.processes.append(.init(
                name: index == 0 ? "epmd" : "rabbitmq-server", pid: process.pid, isServer: true, log: process.logFile.path))
        }
        try state.save(to: stateFile)
        try await setUpUsers(rabbit, credentials: credentials)
        return ServerAddresses(amqp: [ports.amqp], redis: ports.redis, sentinels: [])
    }

    /// Starts a server with `start` (the server and its process), records the process as `name` in
    /// `state` (saved at once, so `down` stops it whatever comes next), or fails saying it did not start.
    func startServer<Server>(
        _ name: String, in state: inout StackState, _ start: () async throws(LocalServerError) -> (Server, ManagedProcess?)
    ) async throws(CLIError) -> Server {
        let server: Server
        let process: ManagedProcess?
        do {
            (server, process) = try await start()
        } catch {
            throw .localStack("\(name) did not start: \(error)")
        }
        if let process {
            state.processes.append(.init(name: name, pid: process.pid, isServer: true, log: process.logFile.path))
        }
        try state.save(to: stateFile)
        return server
    }

    /// The services' RabbitMQ users (each with only its permissions) and no `guest`.
    func setUpUsers(_ broker: some RabbitMQUsers, credentials: StackCredentials) async throws(CLIError) {
        do {
            try await broker.putUsers(try credentials.rabbitUsers(Self.serviceKinds))
            try await broker.deleteUser("guest")
        } catch {
            throw .localStack("could not set up the RabbitMQ users of the services: \(error)")
        }
    }

    /// One service process to start.
    private struct ServiceLaunch {
        /// The process name in `stack.json` and its log's name: the executable's, `.<n>` for a replica.
        var name: String
        var executable: URL
        var opsPort: Int
        var environment: [String: String]
    }

    /// Every service process of `state`'s topology, in start order, each with its own environment:
    /// the shared one, its ops port, and only its own RabbitMQ and Redis credentials.
    private func serviceLaunches(
        _ state: StackState, servers: ServerAddresses, credentials: StackCredentials
    ) throws(CLIError) -> [ServiceLaunch] {
        let executables = try locateServices()
        let shared = serviceEnvironment(ports: state.ports)
        var launches: [ServiceLaunch] = []
        for (index, service) in Self.services.enumerated() {
            let kind = Self.serviceKinds[index]
            for replica in Self.replicas(of: service, topology: state.topology) {
                let name = replica.map { "\(service).\($0)" } ?? service
                var environment = shared
                let opsPort: Int
                if let ha = state.ha, let replica {
                    guard let port = ha.ops[name] else { throw .localStack("stack.json has no ops port for \(name)") }
                    opsPort = port
                    if kind == .gateway { environment["HTTP_PORT"] = String(ha.gateways[replica - 1]) }
                    environment["STATUS_INSTANCE_ID"] = "local-stack-\(replica)"
                } else {
                    opsPort = Self.singleOpsPort(of: index, ports: state.ports)
                }
                environment["OPS_PORT"] = String(opsPort)
                environment.merge(try servers.environment(for: kind, replica: replica ?? 1, credentials: credentials)) { $1 }
                launches.append(ServiceLaunch(name: name, executable: executables[index], opsPort: opsPort, environment: environment))
            }
        }
        return launches
    }

    /// The replica numbers of `service`: none (one unnumbered process) in the single topology; 1 and
    /// 2 in the cluster topology.
    static func replicas(of service: String, topology: Topology) -> [Int?] {
        switch topology {
        case .single: [nil]
        case .ha: [1, 2]
        }
    }

    /// The single topology's ops port of service number `index` of ``services``.
    private static func singleOpsPort(of index: Int, ports: StackState.Ports) -> Int {
        [
            ports.brokerOps ?? 0, ports.gatewayOps, ports.collectorOps, ports.driverOps, ports.qemuDriverOps ?? 0, ports.ec2DriverOps ?? 0,
            ports.digitalOceanDriverOps ?? 0, ports.hetznerDriverOps ?? 0,
        ][index]
    }

    /// Every port the stack listens on.
    private static func allPorts(_ state: StackState) -> [Int] {
        if let ha = state.ha {
            return [state.ports.gateway] + ha.amqp + ha.redis + ha.sentinels + ha.gateways + ha.ops.values.sorted()
        }
        let ports = state.ports
        return [ports.redis, ports.amqp, ports.gateway] + Self.services.indices.map { singleOpsPort(of: $0, ports: ports) }
    }

    /// The environment every service shares (docs/control-plane.md), with the local stack's safe
    /// targets (``safeTargets(environment:)``) unless the environment of `up` sets them; `up`
    /// adds each one's own `OPS_PORT`, `AMQP_URL` and `REDIS_URL`.
    package func serviceEnvironment(ports: StackState.Ports) -> [String: String] {
        var environment = [
            "PAZ_MASTER_KEY_FILE": masterKeyFile.path,
            "PAZ_ADMIN_TOKEN_FILE": adminTokenFile.path,
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": String(ports.gateway),
            "OPS_HOST": "127.0.0.1",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "info",
            "QEMU_STATE_DIRECTORY": dataDirectory.appendingPathComponent("qemu").path,
            // The one collector keeps its name across restarts, so a restarted one takes its poller
            // lease back at once instead of waiting for it to expire.
            "STATUS_INSTANCE_ID": "local-stack",
        ]
        for (key, value) in Self.safeTargets(environment: context.environment) {
            environment[key] = context.environment[key] ?? value
        }
        return environment
    }

    /// What the local stack's drivers may reach (docs/security.md, "Safe targets"): the QEMU driver reads
    /// `file://` images only from the test-image directory `deploy/images/build-debian-test-image.sh`
    /// writes (``testImageDirectory(environment:)``) and downloads nothing over http(s); the generic
    /// driver connects to loopback addresses except 127.0.0.1, where the stack's own services listen; the
    /// EC2 driver calls no AWS endpoint (only endpoints an operator allows with `EC2_ENDPOINT_PREFIXES`,
    /// such as a moto server on loopback) and connects SSH to the same loopback addresses as the generic one;
    /// so do the DigitalOcean and Hetzner drivers (only endpoints allowed with `DIGITALOCEAN_ENDPOINT_PREFIXES`
    /// and `HETZNER_ENDPOINT_PREFIXES`, such as the cloud simulator).
    package static func safeTargets(environment: [String: String]) -> [String: String] {
        [
            "QEMU_IMAGE_FILE_DIRECTORIES": testImageDirectory(environment: environment).path,
            "GENERIC_ADDRESS_ALLOW": "127.0.0.0/8",
            "GENERIC_ADDRESS_DENY": "127.0.0.1/32",
            "EC2_AWS_ENDPOINTS": "false",
            "EC2_ENDPOINT_PREFIXES": "",
            "EC2_ADDRESS_ALLOW": "127.0.0.0/8",
            "EC2_ADDRESS_DENY": "127.0.0.1/32",
            "DIGITALOCEAN_PROVIDER_ENDPOINT": "false",
            "DIGITALOCEAN_ENDPOINT_PREFIXES": "",
            "DIGITALOCEAN_ADDRESS_ALLOW": "127.0.0.0/8",
            "DIGITALOCEAN_ADDRESS_DENY": "127.0.0.1/32",
            "HETZNER_PROVIDER_ENDPOINT": "false",
            "HETZNER_ENDPOINT_PREFIXES": "",
            "HETZNER_ADDRESS_ALLOW": "127.0.0.0/8",
            "HETZNER_ADDRESS_DENY": "127.0.0.1/32",
        ]
    }

    /// `$PAZ_IMAGE_DIR`, else `${XDG_CACHE_HOME:-$HOME/.cache}/paz-machine/test-images`, as the image script.
    package static func testImageDirectory(environment: [String: String]) -> URL {
        if let directory = environment["PAZ_IMAGE_DIR"], !directory.isEmpty { return URL(fileURLWithPath: directory) }
        let cache = environment["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.cache"
        return URL(fileURLWithPath: cache).appendingPathComponent("paz-machine/test-images")
    }

    /// The service executables next to `paz-machine`; names every missing one.
    package func locateServices() throws(CLIError) -> [URL] {
        let directory = context.executableDirectory
        let candidates = Self.services.map { directory.appendingPathComponent($0) }
        let missing = candidates.filter { !FileManager.default.isExecutableFile(atPath: $0.path) }
        guard missing.isEmpty else {
            let names = missing.map(\.lastPathComponent)
            throw .localStack("\(names.joined(separator: ", ")) not found in \(directory.path): `paz-machine up` runs the "
                + "services built next to it; build them with "
                + names.map { "`swift build --product \($0)`" }.joined(separator: " and ") + ", then run `paz-machine up` again")
        }
        return candidates
    }

    /// Creates the master key (0600) and the admin token file (0600) unless they exist.
    private func ensureSecrets() throws(CLIError) {
        if !FileManager.default.fileExists(atPath: masterKeyFile.path) {
            do {
                _ = try MasterKey.create(at: masterKeyFile)
            } catch {
                throw .localStack("cannot create the master key \(masterKeyFile.path): \(error)")
            }
        }
        if !FileManager.default.fileExists(atPath: adminTokenFile.path) {
            try PrivateFile.write(Data((APIToken.generate() + "\n").utf8), to: adminTokenFile)
        }
    }

    private func adminToken() throws(CLIError) -> String {
        guard let data = FileManager.default.contents(atPath: adminTokenFile.path) else {
            throw .file("cannot read the admin token \(adminTokenFile.path)")
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Polls `http://127.0.0.1:port/readyz` until it answers 200; fails early when a process died.
    private func waitUntilReady(_ name: String, port: Int, state: StackState, timeout: Duration = .seconds(60)) async throws(CLIError) {
        var logger = Logger(label: "paz-machine.up")
        logger.logLevel = .critical
        let http = HTTPClient(configuration: .init(connectTimeout: .seconds(2), totalTimeout: .seconds(5), retry: .none), logger: logger)
        let outcome = await poll(http, name: name, port: port, state: state, timeout: timeout)
        await http.shutdown()
        if let outcome { throw outcome }
    }

    /// Nil once `/readyz` answered 200, else why not.
    private func poll(_ http: HTTPClient, name: String, port: Int, state: StackState, timeout: Duration) async -> CLIError? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let dead = state.processes.first(where: { !$0.isAlive }) {
                return .localStack("\(dead.name) exited while starting; the end of its log (\(dead.log)):\n" + Self.tail(of: dead.log))
            }
            if let response = try? await http.send(HTTPRequest(url: "http://127.0.0.1:\(port)/readyz")), response.status == 200 {
                return nil
            }
            try? await Task.sleep(for: .milliseconds(200))
        }
        let log = state.processes.first { $0.name == name }?.log ?? ""
        return .localStack("\(name) was not ready on 127.0.0.1:\(port)/readyz after \(timeout); the end of its log (\(log)):\n" + Self.tail(of: log))
    }

    /// The last lines of a log file.
    package static func tail(of path: String, lines: Int = 20) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "(no log)" }
        return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
    }

    /// Makes sure the CLI config names this stack's gateway with a working tenant token: keeps a token
    /// that works, else creates the tenant (first time) and a new token with the admin token.
    private func login(_ state: StackState) async throws(CLIError) {
        let gateway = state.gatewayURL
        var config = try CLIConfig.load(from: context.configFile)
        if config.gateway == gateway.absoluteString, let token = config.token {
            let works = (try? await CLIContext.withClient(gateway: gateway, token: token) { client in
                _ = try await client.getStatus().ok
            }) != nil
            if works { return }
        }
        let admin = try adminToken()
        let token = try await CLIContext.withClient(gateway: gateway, token: admin) { client in
            do {
                _ = try await client.createTenant(body: .json(.init(name: Self.tenant))).created
            } catch {
                // 409: the tenant exists from an earlier `up`, so only a new token is needed.
                guard case .problem(let problem) = CLIError(error), problem.status == 409 else { throw error }
            }
            let tokenName = "paz-machine-up-\(Int(Date().timeIntervalSince1970))"
            return try await client.createTenantToken(path: .init(tenant: Self.tenant), body: .json(.init(name: tokenName)))
                .created.body.json.token
        }
        config.gateway = gateway.absoluteString
        config.token = token
        try config.save(to: context.configFile)
        context.note("logged in to \(gateway.absoluteString) as tenant \(Self.tenant) (config: \(context.configFile.path))")
    }

    // MARK: down

    /// Stops every process of the stack (services first, then servers; SIGTERM, then SIGKILL) and
    /// keeps the data. Returns false when nothing was running.
    @discardableResult
    package func down() async throws(CLIError) -> Bool {
        guard var state = try StackState.load(from: stateFile), !state.processes.isEmpty else { return false }
        state = await stop(state)
        try state.save(to: stateFile)
        return true
    }

    /// Stops `state`'s processes, services first, each in reverse start order; returns the state
    /// without processes.
    private func stop(_ state: StackState) async -> StackState {
        let state = notingRedisPrimary(state)
        let ordered = state.processes.filter { !$0.isServer }.reversed() + state.processes.filter(\.isServer).reversed()
        for process in ordered where process.isAlive {
            if process.name.hasPrefix("rabbitmq-server") { await stopBroker(process) }
            // epmd keeps no state: no need to wait for it.
            let timeout: Duration = process.name == "epmd" ? .seconds(1) : .seconds(15)
            let killed = await ProcessGroups.stop(process.pid, startTime: process.startTime, timeout: timeout)
            context.note("stopped \(process.name) (pid \(process.pid))" + (killed ? " with SIGKILL" : ""))
        }
        var stopped = state
        stopped.processes = []
        return stopped
    }

    /// Stops RabbitMQ the clean way, `rabbitmqctl stop` (its VM may have SIGTERM blocked, see
    /// PazLocalServers' RabbitMQServer), with the broker's own environment (node name, epmd port,
    /// cookie location) read from `/proc/<pid>/environ`; waits up to 30 s for it to exit.
    private func stopBroker(_ process: StackState.Process) async {
        guard let environment = Self.brokerEnvironment(pid: process.pid), let node = environment["RABBITMQ_NODENAME"],
              let control = try? ManagedProcess(
                executable: "/usr/lib/rabbitmq/bin/rabbitmqctl", arguments: ["-n", node, "stop"],
                environment: environment, logFile: logDirectory.appendingPathComponent("rabbitmqctl-stop.log"))
        else { return }
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isAlive && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
        }
        await control.stop(timeout: .seconds(1))
    }

    /// The environment of the running `rabbitmq-server` with process id `pid` (node name, epmd
    /// port, cookie location: what `rabbitmqctl` needs to reach it), from `/proc/<pid>/environ`;
    /// nil when it is not readable or names no node.
    package static func brokerEnvironment(pid: Int32) -> [String: String]? {
        guard let raw = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return nil }
        var environment: [String: String] = [:]
        for entry in raw.split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            environment[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return environment["RABBITMQ_NODENAME"] == nil ? nil : environment
    }

    // MARK: helpers

    private static func freePorts() throws(CLIError) -> StackState.Ports {
        do {
            var ports: Set<Int> = []
            while ports.count < 11 { ports.insert(try LoopbackNetwork.freePort()) }
            let list = Array(ports)
            return .init(
                redis: list[0], amqp: list[1], gateway: list[2], gatewayOps: list[3], collectorOps: list[4], driverOps: list[5],
                brokerOps: list[6], qemuDriverOps: list[7], ec2DriverOps: list[8],
                digitalOceanDriverOps: list[9], hetznerDriverOps: list[10])
        } catch {
            throw .localStack("cannot find free loopback ports: \(error)")
        }
    }

    static func freePort() throws(CLIError) -> Int {
        do {
            return try LoopbackNetwork.freePort()
        } catch {
            throw .localStack("cannot find a free loopback port: \(error)")
        }
    }

    /// As root, RabbitMQ runs as the `rabbitmq` user, which must be able to enter every directory
    /// above its data: refuse early (with what to do) instead of a broker that cannot start.
    private func checkBrokerCanReach(_ url: URL) throws(CLIError) {
        guard getuid() == 0 else { return }
        var directory = url.deletingLastPathComponent()
        while directory.path != "/" {
            let attributes = try? FileManager.default.attributesOfItem(atPath: directory.path)
            if let mode = (attributes?[.posixPermissions] as? NSNumber)?.intValue, mode & 0o001 == 0 {
                throw .localStack("rabbitmq-server runs as the rabbitmq user, which cannot enter \(directory.path) (mode "
                    + String(mode & 0o777, radix: 8) + "): choose a data directory it can reach, "
                    + "e.g. `paz-machine up --data-dir /var/lib/paz-machine`")
            }
            directory = directory.deletingLastPathComponent()
        }
    }

    func subdirectory(_ name: String) throws(CLIError) -> URL {
        let url = dataDirectory.appendingPathComponent(name)
        try makeDirectory(url)
        return url
    }

    /// Creates `url` with mode 0711: private, but enterable by the broker's user (see
    /// ``checkBrokerCanReach(_:)``); secrets inside are files with mode 0600.
    private func makeDirectory(_ url: URL) throws(CLIError) {
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o711])
        } catch {
            throw .file("cannot create \(url.path): \(error)")
        }
    }
}
