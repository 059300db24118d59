package import Foundation

/// A RabbitMQ cluster on 127.0.0.1: `count` `rabbitmq-server` nodes (distinct names, AMQP and
/// distribution ports) sharing one epmd and one Erlang cookie, all of their state under one directory.
///
/// A fresh cluster starts its first node, then makes each other node join it (`join_cluster`), so a
/// quorum queue declared afterwards has a member on every node. A cluster started again on the same
/// directory (same node names, cookie and membership) launches all nodes at once: a restarted node
/// waits for its peers before it serves. Readiness means every node answers AMQP.
package final class RabbitMQCluster: RabbitMQUsers {
    /// The nodes, in the order of their AMQP ports.
    package let nodes: [RabbitMQServer]
    /// The directory holding `cookie` and one `node-<n>` directory per node.
    package let dataDirectory: URL
    private let portMapper: ManagedProcess
    private let ownsDirectory: Bool

    /// Starts a cluster of `ports.count` nodes (default 3 on free ports). `dataDirectory` defaults to
    /// a new scratch directory, removed by ``stop()``.
    package static func start(
        dataDirectory: URL? = nil, ports: [Int]? = nil, readyTimeout: Duration = .seconds(180)
    ) async throws(LocalServerError) -> RabbitMQCluster {
        let directory: URL
        if let dataDirectory { directory = dataDirectory } else { directory = try ScratchDirectory.make(prefix: "paz-rabbitmq-cluster") }
        var amqpPorts = ports ?? []
        if ports == nil {
            for _ in 0..<3 { amqpPorts.append(try LoopbackNetwork.freePort()) }
        }
        guard amqpPorts.count >= 1 else { throw .invalidSetting("a RabbitMQ cluster needs at least one node") }
        let cookie = try Self.cookie(in: directory)
        let epmdPort = try LoopbackNetwork.freePort()
        let portMapper = try RabbitMQServer.startPortMapper(port: epmdPort, logFile: directory.appendingPathComponent("epmd.log"))
        var nodes: [RabbitMQServer] = []
        do {
            for (index, port) in amqpPorts.enumerated() {
                nodes.append(try RabbitMQServer.clusterNode(
                    dataDirectory: directory.appendingPathComponent("node-\(index + 1)"), port: port, epmdPort: epmdPort, cookie: cookie))
            }
        } catch {
            await portMapper.kill()
            throw error
        }
        let cluster = RabbitMQCluster(nodes: nodes, dataDirectory: directory, portMapper: portMapper, ownsDirectory: dataDirectory == nil)
        do {
            try await cluster.launch(readyTimeout: readyTimeout)
        } catch {
            await cluster.stop()
            throw error
        }
        return cluster
    }

    private init(nodes: [RabbitMQServer], dataDirectory: URL, portMapper: ManagedProcess, ownsDirectory: Bool) {
        self.nodes = nodes
        self.dataDirectory = dataDirectory
        self.portMapper = portMapper
        self.ownsDirectory = ownsDirectory
    }

    /// The cookie recorded in `directory`, or a new random one (recorded there, mode 0600).
    private static func cookie(in directory: URL) throws(LocalServerError) -> String {
        let file = directory.appendingPathComponent("cookie")
        if let data = FileManager.default.contents(atPath: file.path) {
            let cookie = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !cookie.isEmpty { return cookie }
        }
        var generator = SystemRandomNumberGenerator()
        let letters = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        let cookie = String((0..<32).map { _ in letters[Int.random(in: 0..<letters.count, using: &generator)] })
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw .filesystem("could not create \(directory.path): \(error)")
        }
        guard FileManager.default.createFile(atPath: file.path, contents: Data(cookie.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw .filesystem("could not write \(file.path)")
        }
        return cookie
    }

    /// A fresh cluster: the first node, then each other joins it. A known one: every node at once.
    private func launch(readyTimeout: Duration) async throws(LocalServerError) {
        let joined = dataDirectory.appendingPathComponent("formed")
        if FileManager.default.fileExists(atPath: joined.path) {
            try await launchTogether(readyTimeout: readyTimeout)
            return
        }
        let seed = nodes[0]
        try await seed.restart(readyTimeout: readyTimeout)
        for node in nodes.dropFirst() {
            try await node.restart(readyTimeout: readyTimeout)
            try await node.join(seed, readyTimeout: readyTimeout)
        }
        guard FileManager.default.createFile(atPath: joined.path, contents: Data()) else {
            throw .filesystem("could not write \(joined.path)")
        }
    }

    private func launchTogether(readyTimeout: Duration) async throws(LocalServerError) {
        let failures = await withTaskGroup(of: LocalServerError?.self) { group in
            for node in nodes {
                group.addTask {
                    do throws(LocalServerError) {
                        try await node.restart(readyTimeout: readyTimeout)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            var failures: [LocalServerError] = []
            for await failure in group { if let failure { failures.append(failure) } }
            return failures
        }
        if let first = failures.first { throw first }
    }

    /// The shared epmd and every node's broker, for at-exit cleanup and process records.
    package var processes: [ManagedProcess] { [portMapper] + nodes.flatMap(\.processes) }

    /// The shared epmd.
    package var portMapperProcess: ManagedProcess { portMapper }

    /// Stops every node gracefully (the last one after the others, so it starts first next time
    /// without waiting), then epmd; removes the directory if it was a scratch one.
    package func stop() async {
        for node in nodes.reversed() { await node.stopBroker() }
        await portMapper.kill()
        if ownsDirectory { try? FileManager.default.removeItem(at: dataDirectory) }
    }

    /// Creates or updates `users` (users and permissions are cluster-wide: one running node takes them).
    package func putUsers(_ users: [RabbitMQServer.User]) async throws(LocalServerError) {
        try await nodes[0].putUsers(users)
    }

    /// Deletes a user on the whole cluster.
    package func deleteUser(_ name: String) async throws(LocalServerError) {
        try await nodes[0].deleteUser(name)
    }
}
