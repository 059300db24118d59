import ArgumentParser
import Foundation
import PazGatewayAPI

/// `paz-machine cluster …`: clusters as a whole.
struct ClusterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cluster", abstract: "Create, list, inspect, remove, start, stop and restart clusters.",
        subcommands: [
            ClusterCreate.self, ClusterList.self, ClusterInspect.self, ClusterRemove.self,
            ClusterStart.self, ClusterStop.self, ClusterRestart.self,
        ])
}

/// `--no-wait` for commands that start an operation.
struct WaitOptions: ParsableArguments, Sendable {
    @Flag(help: "Print the operation id and return at once instead of waiting for the operation to end.")
    var noWait = false
}

/// `paz-machine cluster create NAME --driver D [--count N] [--<driver>-<option> VALUE …]`.
struct ClusterCreate: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Create a cluster of machines.",
        discussion: """
            Driver options are flags named --<driver>-<option> (see `paz-machine drivers DRIVER`), with \
            PAZ_<DRIVER>_<OPTION> environment variables as fallbacks. A string value @PATH reads the file \
            PATH. Give an option once per machine (repeat the flag; for ip-address also a comma-separated \
            list) to set it per machine: the generic driver needs one --generic-ip-address per machine.
            """)

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var wait: WaitOptions

    @Option(help: "The driver that makes the machines (see `paz-machine drivers`).")
    var driver: String

    @Option(help: "Number of machines (default: one per --<driver>-ip-address, else 1).")
    var count: Int?

    @Option(help: "A size id from the driver's catalog.")
    var size: String?

    @Option(help: "An image id from the driver's catalog.")
    var image: String?

    @Option(help: "A location id from the driver's catalog.")
    var location: String?

    @Option(help: ArgumentHelp("An option for one machine: N:OPTION=VALUE (machine number from 1).", valueName: "n:option=value"))
    var machineOption: [String] = []

    @Flag(help: "Keep what a failed create made instead of removing it.")
    var retainOnFailure = false

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The cluster name, and driver options as --<driver>-<option> VALUE.", valueName: "name"))
    var arguments: [String] = []

    func validate() throws {
        if let count, count < 1 { throw ValidationError("--count must be at least 1") }
    }

    func run(_ context: CLIContext) async throws {
        try await context.withClient { client in
            let schema = try await client.getDriver(path: .init(driver: driver)).ok.body.json.createOptions
            let body = try request(schema: schema, environment: context.environment)
            let accepted = try await client.createCluster(body: .json(body)).accepted.body.json
            _ = try await OperationWaiter(context: context).finish(accepted, wait: !wait.noWait, client: client)
        }
    }

    /// The request body for the driver whose options are `schema`.
    func request(schema: [Components.Schemas.DriverOption], environment: [String: String]) throws(CLIError) -> Components.Schemas.ClusterCreate {
        let parsed = try DriverArguments(arguments, driver: driver, schema: schema)
        guard parsed.positionals.count == 1, let name = parsed.positionals.first else {
            throw .usage(parsed.positionals.isEmpty
                ? "cluster create needs a cluster NAME"
                : "cluster create takes one NAME, got: \(parsed.positionals.joined(separator: " "))")
        }
        let resolved = try parsed.resolve(schema: schema, environment: environment, count: count)
        var machines = resolved.machines
        for text in machineOption {
            let extra = try MachineOptionArgument(text)
            guard let option = schema.first(where: { $0.name == extra.name }) else {
                throw .usage("--machine-option: driver \(driver) has no option \(extra.name) (see `paz-machine drivers \(driver)`)")
            }
            let total = max(machines.count, resolved.count ?? 1)
            guard extra.machine <= total else {
                throw .usage("--machine-option \(text): the cluster has \(total) machine(s)")
            }
            while machines.count < total { machines.append(.init()) }
            machines[extra.machine - 1].additionalProperties[option.name] = try DriverArguments.convert(extra.value, for: option)
        }
        return Components.Schemas.ClusterCreate(
            name: name, driver: driver, count: resolved.count, size: size, image: image, location: location,
            options: resolved.options.additionalProperties.isEmpty ? nil : resolved.options,
            machines: machines.isEmpty ? nil : machines.map { Components.Schemas.MachineCreate(options: $0) },
            retainOnFailure: retainOnFailure ? true : nil)
    }
}

/// `paz-machine cluster ls`.
struct ClusterList: ContextCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List clusters.")

    @OptionGroup var globals: GlobalOptions

    func run(_ context: CLIContext) async throws {
        let list = try await context.withClient { try await $0.listClusters().ok.body.json }
        try context.emit(list, text: Self.render)
    }

    static func render(_ list: Components.Schemas.ClusterList) -> String {
        Table(["NAME", "DRIVER", "MACHINES", "RUNNING", "STOPPED", "OTHER", "CREATED"], rows: list.clusters.map { cluster in
            let states = cluster.states
            let other = states.starting + states.stopping + states.error + states.notFound + states.unknown
            return [
                cluster.name, cluster.driver, String(cluster.machineCount), String(states.running),
                String(states.stopped), String(other), Format.age(of: cluster.createdAt),
            ]
        }).render()
    }
}

/// `paz-machine cluster inspect NAME`.
struct ClusterInspect: ContextCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show a cluster and its machines.")

    @OptionGroup var globals: GlobalOptions

    @Flag(help: "Probe every machine over SSH first (uptime, units).")
    var probe = false

    @Argument(help: "The cluster's name or id.")
    var cluster: String

    func run(_ context: CLIContext) async throws {
        let found = try await context.withClient {
            try await $0.getCluster(path: .init(cluster: cluster), query: .init(probe: probe ? true : nil)).ok.body.json
        }
        try context.emit(found, text: Self.render)
    }

    static func render(_ cluster: Components.Schemas.Cluster) -> String {
        var fields: [(String, String)] = [
            ("name", cluster.name), ("id", cluster.id), ("driver", cluster.driver + (cluster.driverVersion.map { " \($0)" } ?? "")),
            ("size", cluster.size ?? "-"), ("image", cluster.image ?? "-"), ("location", cluster.location ?? "-"),
            ("machines", String(cluster.machineCount)), ("created", Format.age(of: cluster.createdAt)),
        ]
        let options = cluster.options.additionalProperties.sorted { $0.key < $1.key }
            .map { "\($0.key)=\(Drivers.describe($0.value))" } + cluster.secretOptions.sorted().map { "\($0)=<secret>" }
        if !options.isEmpty { fields.append(("options", options.joined(separator: " "))) }
        if let pending = cluster.pendingOperation { fields.append(("operation", "\(pending.kind.rawValue) \(pending.id)")) }
        var text = KeyValues.render(fields) + "\n" + ListMachines.render(cluster.machines)
        let probed = cluster.machines.filter { $0.units != nil }
        if !probed.isEmpty {
            text += "\n" + Table(["MACHINE", "RUNNING SERVICES"], rows: probed.map { machine in
                [machine.name, (machine.units ?? []).map(\.name).joined(separator: " ")]
            }).render()
        }
        return text
    }
}

/// The cluster commands that start an operation on a named cluster.
protocol ClusterActionCommand: ContextCommand {
    var cluster: String { get }
    var wait: WaitOptions { get }
    func send(_ client: Client) async throws -> Components.Schemas.Operation
}

extension ClusterActionCommand {
    func run(_ context: CLIContext) async throws {
        try await context.withClient { client in
            let accepted = try await send(client)
            _ = try await OperationWaiter(context: context).finish(accepted, wait: !wait.noWait, client: client)
        }
    }
}

/// `paz-machine cluster rm NAME [--force]`.
struct ClusterRemove: ClusterActionCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a cluster and all its machines.")
    @OptionGroup var globals: GlobalOptions
    @OptionGroup var wait: WaitOptions
    @Flag(help: "Forget the cluster even when the driver cannot remove something at the provider.")
    var force = false
    @Argument(help: "The cluster's name or id.") var cluster: String

    func send(_ client: Client) async throws -> Components.Schemas.Operation {
        try await client.deleteCluster(path: .init(cluster: cluster), query: .init(force: force ? true : nil)).accepted.body.json
    }
}

/// `paz-machine cluster start NAME`.
struct ClusterStart: ClusterActionCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start every machine of a cluster.")
    @OptionGroup var globals: GlobalOptions
    @OptionGroup var wait: WaitOptions
    @Argument(help: "The cluster's name or id.") var cluster: String

    func send(_ client: Client) async throws -> Components.Schemas.Operation {
        try await client.startCluster(path: .init(cluster: cluster)).accepted.body.json
    }
}

/// `paz-machine cluster stop NAME`.
struct ClusterStop: ClusterActionCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop every machine of a cluster.")
    @OptionGroup var globals: GlobalOptions
    @OptionGroup var wait: WaitOptions
    @Argument(help: "The cluster's name or id.") var cluster: String

    func send(_ client: Client) async throws -> Components.Schemas.Operation {
        try await client.stopCluster(path: .init(cluster: cluster)).accepted.body.json
    }
}

/// `paz-machine cluster restart NAME`.
struct ClusterRestart: ClusterActionCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Restart every machine of a cluster.")
    @OptionGroup var globals: GlobalOptions
    @OptionGroup var wait: WaitOptions
    @Argument(help: "The cluster's name or id.") var cluster: String

    func send(_ client: Client) async throws -> Components.Schemas.Operation {
        try await client.restartCluster(path: .init(cluster: cluster)).accepted.body.json
    }
}

/// `key: value` lines with the values aligned.
enum KeyValues {
    static func render(_ fields: [(String, String)]) -> String {
        let width = (fields.map(\.0.count).max() ?? 0) + 2
        return fields.map { ($0.0 + ":").padding(toLength: width, withPad: " ", startingAt: 0) + $0.1 + "\n" }.joined()
    }
}
