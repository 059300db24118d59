import Foundation
import PazLocalServers
import PazSchemas

/// The host's shared resources, handed out one request at a time: forwarded loopback ports and the
/// cluster networks (switch + addresses). Claims are files under the state directory (see
/// ``Reservations``), so they survive a restart of the driver and two driver replicas on one host
/// never get the same one; this actor serializes the claims of concurrent commands within one
/// process, and a cluster's network is joined, started and deleted under a ``HostFileLock`` of the
/// cluster, so two replicas never start two switches for it or delete one another is joining.
actor HostResources {
    let stateDirectory: URL
    /// Switch starts in flight: the actor is reentrant while one waits for vde_switch, and a second
    /// machine of the cluster must wait for that start, not begin another.
    private var switchStarts: [ClusterID: Task<Void, any Error>] = [:]
    private var ports: Reservations { Reservations(directory: stateDirectory.appendingPathComponent("ports")) }

    init(stateDirectory: URL) {
        self.stateDirectory = stateDirectory
    }

    /// The SSH forward port of `machine`: the one it holds, else a free loopback port claimed for it.
    func sshPort(for machine: MachineID) throws(QEMUError) -> Int {
        if let held = ports.held(by: machine.rawValue) { return held }
        for _ in 0..<50 {
            guard let port = try? LoopbackNetwork.freePort(host: "127.0.0.1") else { continue }
            if try ports.claim(port, for: machine.rawValue) { return port }
        }
        throw .exhausted("no free loopback port could be reserved for SSH forwarding")
    }

    /// Whether `port` still accepts a new listener (nothing else took it since it was reserved).
    func isBindable(_ port: Int) -> Bool {
        !LoopbackNetwork.canConnect(host: "127.0.0.1", port: port)
    }

    /// Gives up `machine`'s port and claims a new one (its old one was taken by another program).
    func replaceSSHPort(for machine: MachineID) throws(QEMUError) -> Int {
        ports.release(owner: machine.rawValue)
        return try sshPort(for: machine)
    }

    /// `machine`'s address in `cluster`'s network, with the switch running.
    func joinCluster(_ cluster: ClusterID, machine: MachineID) async throws(QEMUError) -> (network: ClusterNetwork, address: String) {
        let network = ClusterNetwork(stateDirectory: stateDirectory, cluster: cluster)
        let lock = try await lockNetwork(of: cluster)
        defer { lock.release() }
        let address = try network.address(for: machine)
        try await startSwitch(network, cluster: cluster)
        return (network, address)
    }

    /// The switch of `cluster`, started again if needed (a VM starting after a host reboot).
    func ensureSwitch(_ cluster: ClusterID) async throws(QEMUError) -> ClusterNetwork {
        let network = ClusterNetwork(stateDirectory: stateDirectory, cluster: cluster)
        let lock = try await lockNetwork(of: cluster)
        defer { lock.release() }
        try await startSwitch(network, cluster: cluster)
        return network
    }

    /// The lock of `cluster`'s network, shared with the other driver processes of this host.
    private func lockNetwork(of cluster: ClusterID) async throws(QEMUError) -> HostFileLock {
        let directory = stateDirectory.appendingPathComponent("locks")
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            return try await HostFileLock.acquire(directory.appendingPathComponent("cluster-\(cluster.rawValue).lock").path)
        } catch let failure as HostFileLock.Failure {
            switch failure {
            case .filesystem(let message): throw .filesystem(message)
            case .cancelled: throw .filesystem("cancelled while waiting for the lock of cluster \(cluster)'s network")
            }
        } catch {
            throw .filesystem("cannot create \(directory.path): \(error)")
        }
    }

    /// Starts `network`'s switch unless it runs, or waits for the start already under way.
    private func startSwitch(_ network: ClusterNetwork, cluster: ClusterID) async throws(QEMUError) {
        let start: Task<Void, any Error>
        if let running = switchStarts[cluster] {
            start = running
        } else {
            start = Task { try await network.ensureSwitch() }
            switchStarts[cluster] = start
        }
        defer { if switchStarts[cluster] == start { switchStarts[cluster] = nil } }
        do {
            try await start.value
        } catch let error as QEMUError {
            throw error
        } catch {
            throw .launchFailed("the cluster switch (vde_switch)", log: "\(error)")
        }
    }

    /// Releases everything `machine` holds; the cluster network goes with its last machine.
    /// Returns the names of what was released.
    func release(_ machine: MachineID, cluster: ClusterID) async -> [String] {
        var released: [String] = []
        if ports.held(by: machine.rawValue) != nil {
            ports.release(owner: machine.rawValue)
            released.append("ssh-port")
        }
        let network = ClusterNetwork(stateDirectory: stateDirectory, cluster: cluster)
        guard FileManager.default.fileExists(atPath: network.directory.path) else { return released }
        // Without the lock only if it cannot be had (the state directory is broken): a machine being
        // removed gives its address back in any case.
        let lock = try? await lockNetwork(of: cluster)
        defer { lock?.release() }
        if await network.release(machine) { released.append("cluster-network") }
        return released
    }
}
