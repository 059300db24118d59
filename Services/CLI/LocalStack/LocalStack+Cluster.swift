import Foundation
import PazLocalServers
import PazSchemas

/// Where the services find RabbitMQ and Redis: one node and one server, or the cluster topology's
/// nodes and Sentinels.
struct ServerAddresses {
    /// The RabbitMQ nodes' AMQP ports.
    var amqp: [Int]
    /// The Redis server (the primary when Sentinels are used: only the credentials count then).
    var redis: Int
    /// The Sentinels' ports; empty without Sentinel.
    var sentinels: [Int]

    /// `AMQP_URL` (one node) or `AMQP_URLS` (every node, starting with a different one for each
    /// replica, so the replicas spread over the nodes), `REDIS_URL`, and the Sentinel settings, all
    /// with `kind`'s own credentials.
    func environment(for kind: ServiceKind, replica: Int, credentials: StackCredentials) throws(CLIError) -> [String: String] {
        var environment: [String: String] = [:]
        if amqp.count == 1 {
            environment["AMQP_URL"] = try credentials.amqpURL(kind, port: amqp[0])
        } else {
            let start = (replica - 1) % amqp.count
            var urls: [String] = []
            for port in amqp[start...] + amqp[..<start] { urls.append(try credentials.amqpURL(kind, port: port)) }
            environment["AMQP_URLS"] = urls.joined(separator: ",")
        }
        environment["REDIS_URL"] = try credentials.redisURL(kind, port: redis)
        if !sentinels.isEmpty {
            environment["REDIS_SENTINELS"] = sentinels.map { "127.0.0.1:\($0)" }.joined(separator: ",")
            environment["REDIS_SENTINEL_MASTER"] = LocalStack.sentinelMasterName
        }
        return environment
    }
}

extension LocalStack {
    /// The name the Sentinels monitor the Redis primary under.
    package static let sentinelMasterName = "paz"

    /// New free ports for the cluster topology.
    static func freeClusterPorts() throws(CLIError) -> StackState.HAPorts {
        var ops: [String: Int] = [:]
        for service in services {
            for replica in replicas(of: service, topology: .ha) {
                ops["\(service).\(replica ?? 1)"] = try freePort()
            }
        }
        return StackState.HAPorts(
            amqp: try (0..<3).map { _ throws(CLIError) in try freePort() }, redis: try (0..<2).map { _ throws(CLIError) in try freePort() },
            redisPrimary: 0, sentinels: try (0..<3).map { _ throws(CLIError) in try freePort() },
            gateways: try (0..<2).map { _ throws(CLIError) in try freePort() }, ops: ops)
    }

    /// The cluster topology's servers: the Redis primary (the one that was primary when the stack
    /// stopped) and its replica, 3 Sentinels, then the 3-node RabbitMQ cluster with the services' users.
    func startClusterServers(_ state: inout StackState, credentials: StackCredentials) async throws(CLIError) -> ServerAddresses {
        guard let ha = state.ha else { throw .localStack("stack.json has no cluster ports") }
        let users = try credentials.redisUsers(Self.serviceKinds)
        let primaryPort = ha.redis[ha.redisPrimary]
        for index in [ha.redisPrimary] + ha.redis.indices.filter({ $0 != ha.redisPrimary }) {
            let port = ha.redis[index]
            let role = index == ha.redisPrimary ? "primary" : "replica"
            context.note("starting redis-server (\(role)) on 127.0.0.1:\(port)…")
            let options = RedisServer.Options(
                appendOnly: true, password: credentials.redisAdminPassword, users: users,
                replicaOf: index == ha.redisPrimary ? nil : primaryPort)
            let directory = try subdirectory("redis-\(index + 1)")
            _ = try await startServer("redis-server.\(index + 1)", in: &state) { () async throws(LocalServerError) in
                let server = try await RedisServer.start(dataDirectory: directory, port: port, options: options)
                return (server, server.process)
            }
        }
        for (index, port) in ha.sentinels.enumerated() {
            let options = RedisSentinelServer.Options(
                masterName: Self.sentinelMasterName, quorum: 2, downAfter: .seconds(2), failoverTimeout: .seconds(10),
                primaryPassword: credentials.redisAdminPassword)
            let directory = try subdirectory("sentinel-\(index + 1)")
            _ = try await startServer("redis-sentinel.\(index + 1)", in: &state) { () async throws(LocalServerError) in
                let sentinel = try await RedisSentinelServer.start(primaryPort: primaryPort, options: options, port: port, directory: directory)
                return (sentinel, sentinel.process)
            }
        }

        context.note("starting a 3-node RabbitMQ cluster on 127.0.0.1:\(ha.amqp.map(String.init).joined(separator: ","))…")
        let cluster: RabbitMQCluster
        do {
            cluster = try await RabbitMQCluster.start(dataDirectory: try subdirectory("rabbitmq-cluster"), ports: ha.amqp)
        } catch {
            throw .localStack("the RabbitMQ cluster did not start: \(error)")
        }
        state.processes.append(.init(
            name: "epmd", pid: cluster.portMapperProcess.pid, isServer: true, log: cluster.portMapperProcess.logFile.path))
        for (index, node) in cluster.nodes.enumerated() {
            if let process = node.brokerProcess {
                state.processes.append(.init(name: "rabbitmq-server.\(index + 1)", pid: process.pid, isServer: true, log: process.logFile.path))
            }
        }
        try state.save(to: stateFile)
        try await setUpUsers(cluster, credentials: credentials)
        return ServerAddresses(amqp: ha.amqp, redis: primaryPort, sentinels: ha.sentinels)
    }

    /// HAProxy on the stack's gateway port in front of the gateways (checked on their `/readyz`). While
    /// none is ready (Redis failing over), requests still reach them: clients get the gateway's 503
    /// problem with `Retry-After`, which the CLI waits for and retries.
    func startProxy(_ state: inout StackState, ha: StackState.HAPorts) async throws(CLIError) {
        var backends: [HAProxyServer.Backend] = []
        for (index, port) in ha.gateways.enumerated() {
            backends.append(.init(name: "gateway-\(index + 1)", port: port, checkPort: ha.ops["paz-gateway.\(index + 1)"]))
        }
        let (port, directory) = (state.ports.gateway, try subdirectory("haproxy"))
        _ = try await startServer("haproxy", in: &state) { () async throws(LocalServerError) in
            let proxy = try await HAProxyServer.start(backends: backends, sendWhenAllDown: true, port: port, directory: directory)
            return (proxy, proxy.process)
        }
        context.note("started haproxy on 127.0.0.1:\(state.ports.gateway) in front of \(ha.gateways.count) gateways")
    }

    /// The Redis primary as the Sentinels see it now (after a failover, the former replica), so the
    /// next start makes it the primary again; `state` unchanged when no Sentinel answers.
    func notingRedisPrimary(_ state: StackState) -> StackState {
        guard var ha = state.ha else { return state }
        for port in ha.sentinels {
            if let primary = RedisSentinelServer.primaryPort(sentinelPort: port, masterName: Self.sentinelMasterName),
               let index = ha.redis.firstIndex(of: primary) {
                ha.redisPrimary = index
                var noted = state
                noted.ha = ha
                return noted
            }
        }
        return state
    }
}
