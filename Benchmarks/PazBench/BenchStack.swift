import Foundation
import Logging
import PazAMQP
import PazLocalServers
import PazMachineCLI
import PazRedis
import PazSchemas
import PazStore

/// The whole control plane as `paz-machine up` runs it (redis-server, rabbitmq-server, gateway, status
/// collector, generic driver, all on 127.0.0.1), under a scratch data directory, for the cases that
/// measure the services. The service executables are the ones built next to `paz-bench`.
struct BenchStack {
    let stack: LocalStack
    let state: StackState
    /// The token `up` made for the tenant `default`.
    let token: String
    let root: URL

    /// Brings the stack up with `topology` (`environment` adds settings for it); the caller calls ``stop()``.
    static func start(environment: [String: String] = [:], topology: LocalStack.Topology = .single) async throws -> BenchStack {
        // The services inherit paz-bench's environment (`up` adds only their own settings to it).
        for (key, value) in environment { setenv(key, value, 1) }
        let root = try ScratchDirectory.make(prefix: "paz-bench-stack")
        let context = CLIContext(
            terminal: Terminal(out: { _ in }, err: { print($0, terminator: "") }),
            environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
            configFile: root.appendingPathComponent("config.json"),
            executableDirectory: CLIContext.runningExecutable().deletingLastPathComponent())
        let stack = LocalStack(dataDirectory: root.appendingPathComponent("data"), context: context)
        let state = try await stack.up(topology: topology)
        guard let token = try CLIConfig.load(from: context.configFile).token else {
            await Self.stop(stack, root: root)
            throw BenchError("`up` wrote no token to \(context.configFile.path)")
        }
        return BenchStack(stack: stack, state: state, token: token, root: root)
    }

    /// Stops every process of the stack and removes its data.
    func stop() async {
        await Self.stop(stack, root: root)
    }

    private static func stop(_ stack: LocalStack, root: URL) async {
        _ = try? await stack.down()
        try? FileManager.default.removeItem(at: root)
    }

    var gatewayURL: String { state.gatewayURL.absoluteString.trimmingCharacters(in: CharacterSet(charactersIn: "/")) }

    /// The operator's passwords of the stack (`credentials.json`).
    func credentials() throws -> StackCredentials {
        guard let credentials = try StackCredentials.load(from: stack.credentialsFile) else {
            throw BenchError("`up` wrote no \(stack.credentialsFile.path)")
        }
        return credentials
    }

    /// The Redis primary's port: the one Redis, or the one the Sentinels name in the cluster topology.
    func redisPort() throws -> Int {
        guard let ha = state.ha else { return state.ports.redis }
        for sentinel in ha.sentinels {
            if let port = RedisSentinelServer.primaryPort(sentinelPort: sentinel, masterName: LocalStack.sentinelMasterName) { return port }
        }
        throw BenchError("no Sentinel names a Redis primary")
    }

    /// An AMQP port that answers: the one node, or the first running node of the cluster.
    func amqpPort() throws -> Int {
        guard let ha = state.ha else { return state.ports.amqp }
        guard let port = ha.amqp.first(where: { LoopbackNetwork.canConnect(host: "127.0.0.1", port: $0) }) else {
            throw BenchError("no RabbitMQ node answers")
        }
        return port
    }

    /// Runs `body` with the stack's Redis (as its `default` user) as a ``Store``.
    func withStore<T>(_ body: (Store) async throws -> T) async throws -> T {
        let redis = RedisClient(configuration: RedisConfiguration(
            host: "127.0.0.1", port: try redisPort(), password: try credentials().redisAdminPassword))
        do {
            let result = try await body(Store(redis: redis))
            await redis.close()
            return result
        } catch {
            await redis.close()
            throw error
        }
    }

    /// Records a cluster of `count` generic machines for the tenant `default`, each `running`, as
    /// the gateway and the collector would have left them (machine `i` reachable at `ssh(i)` when
    /// given); returns the machine refs.
    func seedCluster(name: String, machines count: Int, ssh: ((Int) -> SSHEndpoint)? = nil) async throws -> [MachineRef] {
        try await withStore { store in
            guard var tenant = try await store.tenants().first(where: { $0.name.rawValue == LocalStack.tenant }) else {
                throw BenchError("the tenant \(LocalStack.tenant) does not exist")
            }
            tenant.machineQuota = max(tenant.machineQuota, count)
            try await store.saveTenant(tenant)
            let driver: ResourceName = "generic"
            var cluster = ClusterRecord(name: try ResourceName(name), driver: driver)
            let clusterId = cluster.id
            let machines = try (1...count).map { index in
                var machine = MachineRecord(name: try ResourceName("\(name)-\(index)"), clusterId: clusterId, driver: driver)
                if let endpoint = ssh?(index) {
                    machine.details = MachineDetails(
                        machine: machine.ref, state: .running, observedAt: Date(),
                        addresses: [MachineAddress(address: endpoint.host, scope: .public)], ssh: endpoint)
                }
                return machine
            }
            cluster.machineIds = machines.map(\.id)
            try await store.createCluster(cluster, machines: machines, tenant: tenant.id, initialState: .running)
            return machines.map(\.ref)
        }
    }

    /// Makes a read-only Redis user without a password for tools that would show a password on
    /// their command line (redis-benchmark); returns its name.
    func readOnlyRedisUser() async throws -> String {
        let name = "paz-bench-reader"
        try await withStore { store in
            _ = try await store.redis.command(["ACL", "SETUSER", .init(name), "reset", "on", "nopass", "~*", "+@read", "+ping", "+config|get"])
        }
        return name
    }

    /// Stops the generic driver (SIGKILL) but keeps it announced for an hour: its commands stay in
    /// its queue, so a case measures what the gateway does to accept them, not what a driver does
    /// with them. Returns the driver's name.
    func silenceGenericDriver() async throws -> ResourceName {
        let drivers = state.processes.filter { $0.name == "paz-driver-generic" || $0.name.hasPrefix("paz-driver-generic.") }
        guard !drivers.isEmpty else { throw BenchError("the stack runs no generic driver") }
        for driver in drivers { _ = Foundation.kill(-driver.pid, SIGKILL) }
        let name: ResourceName = "generic"
        try await withStore { store in
            guard var announcement = try await store.liveDrivers().first(where: { $0.name == name }) else {
                throw BenchError("the generic driver never announced itself")
            }
            announcement.instanceId = "bench"
            announcement.ttlSeconds = 3_600
            try await store.announce(announcement)
        }
        return name
    }

    /// Kills the stack's process `name` (its group) with SIGKILL, as a crash; returns once it is gone.
    func kill(_ name: String) async throws {
        guard let process = state.processes.first(where: { $0.name == name }) else { throw BenchError("the stack has no \(name)") }
        guard await ProcessGroups.killAndWait(process.pid) else { throw BenchError("\(name) still runs 10 s after SIGKILL") }
    }

    /// The id of the tenant `up` made.
    func tenantId() async throws -> TenantID {
        try await withStore { store in
            guard let tenant = try await store.tenants().first(where: { $0.name.rawValue == LocalStack.tenant }) else {
                throw BenchError("the tenant \(LocalStack.tenant) does not exist")
            }
            return tenant.id
        }
    }

    /// Runs `body` with an AMQP connection to the stack's broker as the RabbitMQ user of `kind`
    /// (the SSH broker answers by the sender's service kind), or as the operator (`paz-admin`) when nil.
    func withAMQP<T>(as kind: ServiceKind?, _ body: (AMQPConnection) async throws -> T) async throws -> T {
        var logger = Logger(label: "paz-bench.amqp")
        logger.logLevel = .warning
        let credentials = try credentials()
        let user = kind?.userName ?? StackCredentials.amqpAdminUser
        let password: String? = if let kind { credentials.services[kind.userName]?.amqpPassword } else { credentials.amqpAdminPassword }
        guard let password else {
            throw BenchError("no credentials for \(user) in \(stack.credentialsFile.path)")
        }
        let amqp = AMQPConnection(
            configuration: AMQPConfiguration(
                host: "127.0.0.1", port: try amqpPort(), user: user, password: password, connectionName: "paz-bench-\(user)"),
            logger: logger)
        do {
            try await amqp.waitUntilConnected(timeout: .seconds(10))
            let result = try await body(amqp)
            await amqp.close()
            return result
        } catch {
            await amqp.close()
            throw error
        }
    }

    /// The memory of each service process, from `/proc/<pid>/smaps_rollup`.
    func serviceMemory() -> [ServiceMemory] {
        state.processes.filter { !$0.isServer }.compactMap { process in
            guard let rollup = try? String(contentsOfFile: "/proc/\(process.pid)/smaps_rollup", encoding: .utf8) else {
                return nil
            }
            var kilobytes: [Substring: Double] = [:]
            for line in rollup.split(separator: "\n") {
                let fields = line.split(separator: " ")
                if fields.count >= 2, fields[0].hasSuffix(":"), let value = Double(fields[1]) {
                    kilobytes[fields[0].dropLast()] = value
                }
            }
            guard let rss = kilobytes["Rss"], let pss = kilobytes["Pss"], let anonymous = kilobytes["Anonymous"],
                  let privateClean = kilobytes["Private_Clean"], let privateDirty = kilobytes["Private_Dirty"]
            else { return nil }
            return ServiceMemory(
                name: process.name, rss: rss / 1024, pss: pss / 1024, unique: (privateClean + privateDirty) / 1024,
                anonymous: anonymous / 1024)
        }
    }
}

/// One service's memory in MB. RSS counts every mapped page, also the shared libraries' code that
/// every service maps (libswiftCore, Foundation, ICU); PSS divides shared pages among the processes
/// that map them; `unique` is what only this process holds (its own executable's code and its
/// private data); `anonymous` is heap, stacks and relocated data.
struct ServiceMemory {
    let name: String
    let rss: Double
    let pss: Double
    let unique: Double
    let anonymous: Double
}

/// A benchmark that could not run, with the reason.
struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
