package import Foundation

/// The local stack's state file (`stack.json` in the data directory): the ports chosen at the first
/// `up` (kept for later ones) and the processes running now (empty after `down`).
package struct StackState: Codable, Equatable, Sendable {
    /// Loopback ports of the stack, chosen once.
    package struct Ports: Codable, Equatable, Sendable {
        package var redis: Int
        package var amqp: Int
        package var gateway: Int
        package var gatewayOps: Int
        package var collectorOps: Int
        package var driverOps: Int
        /// The SSH broker's ops port; nil in a state file written before the broker was part of the stack.
        package var brokerOps: Int?
        /// The QEMU driver's ops port; nil in a state file written before that driver was part of the stack.
        package var qemuDriverOps: Int?
        /// The EC2 driver's ops port; nil in a state file written before that driver was part of the stack.
        package var ec2DriverOps: Int?
        /// The DigitalOcean driver's ops port; nil in a state file written before that driver was part of the stack.
        package var digitalOceanDriverOps: Int?
        /// The Hetzner driver's ops port; nil in a state file written before that driver was part of the stack.
        package var hetznerDriverOps: Int?

        package init(
            redis: Int, amqp: Int, gateway: Int, gatewayOps: Int, collectorOps: Int, driverOps: Int, brokerOps: Int? = nil,
            qemuDriverOps: Int? = nil, ec2DriverOps: Int? = nil, digitalOceanDriverOps: Int? = nil,
            hetznerDriverOps: Int? = nil
        ) {
            self.redis = redis
            self.amqp = amqp
            self.gateway = gateway
            self.gatewayOps = gatewayOps
            self.collectorOps = collectorOps
            self.driverOps = driverOps
            self.brokerOps = brokerOps
            self.qemuDriverOps = qemuDriverOps
            self.ec2DriverOps = ec2DriverOps
            self.digitalOceanDriverOps = digitalOceanDriverOps
            self.hetznerDriverOps = hetznerDriverOps
        }
    }

    /// A process group started by `up`.
    package struct Process: Codable, Equatable, Sendable {
        /// `redis-server`, `epmd`, `rabbitmq-server`, `paz-gateway`…
        package var name: String
        /// The leader's pid, which is also the group id.
        package var pid: Int32
        /// The leader's start time (`/proc/<pid>/stat`), so a recycled pid is not taken for it.
        package var startTime: UInt64?
        /// Servers are stopped after the services.
        package var isServer: Bool
        /// Its log file.
        package var log: String

        package init(name: String, pid: Int32, isServer: Bool, log: String) {
            self.name = name
            self.pid = pid
            self.startTime = ProcessGroups.entry(pid)?.startTime
            self.isServer = isServer
            self.log = log
        }

        /// True while the process (or anything in its group) runs.
        package var isAlive: Bool { ProcessGroups.isAlive(pid, startTime: startTime) }
    }

    /// The cluster topology's own ports (``LocalStack/Topology/ha``): several nodes and replicas.
    package struct HAPorts: Codable, Equatable, Sendable {
        /// The RabbitMQ nodes' AMQP ports (3).
        package var amqp: [Int]
        /// The two Redis servers' ports, in a fixed order (each keeps its data directory).
        package var redis: [Int]
        /// The index in ``redis`` of the primary, as last seen: started as the primary next time.
        package var redisPrimary: Int
        /// The Redis Sentinels' ports (3).
        package var sentinels: [Int]
        /// The gateways' API ports (2), behind HAProxy on ``Ports/gateway``.
        package var gateways: [Int]
        /// Each service replica's ops port, by its process name (`paz-gateway.1`…).
        package var ops: [String: Int]
    }

    package var ports: Ports
    /// Nil for the single-node topology (and state files written before there were others).
    package var ha: HAPorts?
    package var processes: [Process]

    package init(ports: Ports, ha: HAPorts? = nil, processes: [Process] = []) {
        self.ports = ports
        self.ha = ha
        self.processes = processes
    }

    /// The topology the stack was made with.
    package var topology: LocalStack.Topology { ha == nil ? .single : .ha }

    /// The gateway's URL.
    package var gatewayURL: URL { URL(string: "http://127.0.0.1:\(ports.gateway)")! }

    /// Reads `file`; nil when it does not exist.
    package static func load(from file: URL) throws(CLIError) -> StackState? {
        guard FileManager.default.fileExists(atPath: file.path) else { return nil }
        do {
            return try JSONDecoder().decode(StackState.self, from: Data(contentsOf: file))
        } catch {
            throw .file("cannot read \(file.path): \(error). If no stack runs, delete it and run `paz-machine up` again")
        }
    }

    /// Writes `file` (mode 0600).
    package func save(to file: URL) throws(CLIError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        do {
            try PrivateFile.write(encoder.encode(self), to: file)
        } catch let error as CLIError {
            throw error
        } catch {
            throw .file("cannot encode the stack state: \(error)")
        }
    }
}
