import ArgumentParser
import Foundation
import PazGatewayAPI

/// `paz-machine create --cluster C [NAME] [--<driver>-<option> VALUE …]`: one more machine in a cluster.
struct CreateMachine: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "create", abstract: "Add one machine to a cluster.",
        discussion: "Driver options as for `cluster create` (--<driver>-<option> VALUE, PAZ_<DRIVER>_<OPTION>).")

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var wait: WaitOptions

    @Option(help: "The cluster to add the machine to.")
    var cluster: String

    @Option(help: "A size id (default: the cluster's).") var size: String?
    @Option(help: "An image id (default: the cluster's).") var image: String?
    @Option(help: "A location id (default: the cluster's).") var location: String?

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The machine name (optional), and driver options.", valueName: "name"))
    var arguments: [String] = []

    func run(_ context: CLIContext) async throws {
        try await context.withClient { client in
            let driver = try await client.getCluster(path: .init(cluster: cluster)).ok.body.json.driver
            let schema = try await client.getDriver(path: .init(driver: driver)).ok.body.json.createOptions
            let body = try request(driver: driver, schema: schema, environment: context.environment)
            let accepted = try await client.addMachine(path: .init(cluster: cluster), body: .json(body)).accepted.body.json
            _ = try await OperationWaiter(context: context).finish(accepted, wait: !wait.noWait, client: client)
        }
    }

    /// The request body for a machine of `driver` whose options are `schema`.
    func request(driver: String, schema: [Components.Schemas.DriverOption], environment: [String: String]) throws(CLIError) -> Components.Schemas.MachineCreate {
        let parsed = try DriverArguments(arguments, driver: driver, schema: schema)
        guard parsed.positionals.count <= 1 else {
            throw .usage("create takes at most one machine NAME, got: \(parsed.positionals.joined(separator: " "))")
        }
        let resolved = try parsed.resolve(schema: schema, environment: environment, count: 1)
        return Components.Schemas.MachineCreate(
            name: parsed.positionals.first, size: size, image: image, location: location,
            options: resolved.options.additionalProperties.isEmpty ? nil : resolved.options)
    }
}

/// `paz-machine ls [--cluster C]`.
struct ListMachines: ContextCommand {
    static let configuration = CommandConfiguration(commandName: "ls", abstract: "List machines.")

    @OptionGroup var globals: GlobalOptions

    @Option(help: "Only the machines of this cluster.")
    var cluster: String?

    func run(_ context: CLIContext) async throws {
        let list = try await context.withClient { try await $0.listMachines(query: .init(cluster: cluster)).ok.body.json }
        try context.emit(list) { Self.render($0.machines) }
    }

    static func render(_ machines: [Components.Schemas.Machine], now: Date = Date()) -> String {
        Table(["NAME", "CLUSTER", "DRIVER", "STATE", "IP", "OBSERVED"], rows: machines.map { machine in
            [
                machine.name, machine.cluster, machine.driver, StateText.describe(machine.state, stale: machine.stale),
                machine.addresses.first?.address ?? "", Format.age(of: machine.observedAt, now: now),
            ]
        }).render()
    }
}

/// How a machine state is shown: a stale state is never shown as current.
enum StateText {
    static func describe(_ state: Components.Schemas.MachineState, stale: Bool) -> String {
        state.rawValue + (stale ? " (stale)" : "")
    }
}

/// `paz-machine inspect MACHINE`.
struct InspectMachine: ContextCommand {
    static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Show one machine.")

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "The machine's name or id.") var machine: String

    func run(_ context: CLIContext) async throws {
        let found = try await context.withClient { try await $0.getMachine(path: .init(machine: machine)).ok.body.json }
        try context.emit(found, text: Self.render)
    }

    static func render(_ machine: Components.Schemas.Machine) -> String {
        var fields: [(String, String)] = [
            ("name", machine.name), ("id", machine.id), ("cluster", machine.cluster), ("driver", machine.driver),
            ("state", StateText.describe(machine.state, stale: machine.stale)),
            ("observed", Format.age(of: machine.observedAt)),
            ("addresses", machine.addresses.map(\.address).joined(separator: ", ")),
            ("ssh", machine.ssh.map { "\($0.user)@\($0.host):\($0.port)" } ?? "-"),
            ("provider id", machine.providerId ?? "-"), ("created", Format.age(of: machine.createdAt)),
        ]
        if let pending = machine.pendingOperation { fields.append(("operation", "\(pending.kind.rawValue) \(pending.id)")) }
        var text = KeyValues.render(fields)
        if let units = machine.units, !units.isEmpty {
            text += "\nunits (\(Format.age(of: machine.unitsObservedAt))):\n"
            text += Table(["UNIT", "ACTIVE", "SUB"], rows: units.map { [$0.name, $0.activeState, $0.subState] }).render()
        }
        return text
    }
}

/// `paz-machine ip MACHINE`.
struct MachineIP: ContextCommand {
    static let configuration = CommandConfiguration(commandName: "ip", abstract: "Print a machine's primary address.")

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "The machine's name or id.") var machine: String

    func run(_ context: CLIContext) async throws {
        let answer = try await context.withClient { try await $0.getMachineIP(path: .init(machine: machine)).ok.body.json }
        try context.emit(answer) { $0.ip }
    }
}

/// The machine commands that start an operation on one machine.
protocol MachineActionCommand: ContextCommand {
    var machine: String { get }
    var wait: WaitOptions { get }
    func send(_ client: Client) async throws -> Components.Schemas.Operation
}

extension MachineActionCommand {
    func run(_ context: CLIContext) async throws {
        try await context.withClient { client in
            let accepted = try await send(client)
            _ = try await OperationWaiter(context: context).finish(accepted, wait: !wait.noWait, client: client)
        }
    }
}

/// `paz-machine start MACHINE`.
struct StartMachine: MachineActionCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start a machine.")
    @OptionGroup var globals: GlobalOptions
    @OptionGroup var wait: WaitOptions
    @Argument(help: "The machine's name or id.") var machine: String

    func send(_ client: Client) async throws -> Components.Schemas.Operation {
        try await client.startMachine(path: .init(machine: machine)).accepted.body.json
    }
}

/// `paz-machine stop MACHINE`.
struct StopMachine: MachineActionCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a machine.")
    @OptionGroup var globals: GlobalOptions
    @OptionGroup var wait: WaitOptions
    @Argument(help: "The machine's name or id.") var machine: String

    func send(_ client: Client) async throws -> Components.Schemas.Operation {
        try await client.stopMachine(path: .init(machine: machine)).accepted.body.json
    }
}

/// `paz-machine restart MACHINE`.
struct RestartMachine: MachineActionCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Restart a machine.")
    @OptionGroup var globals: GlobalOptions
    @OptionGroup var wait: WaitOptions
    @Argument(help: "The machine's name or id.") var machine: String

    func send(_ client: Client) async throws -> Components.Schemas.Operation {
        try await client.restartMachine(path: .init(machine: machine)).accepted.body.json
    }
}

/// `paz-machine kill MACHINE`.
struct KillMachine: MachineActionCommand {
    static let configuration = CommandConfiguration(commandName: "kill", abstract: "Power a machine off at once.")
    @OptionGroup var globals: GlobalOptions
    @OptionGroup var wait: WaitOptions
    @Argument(help: "The machine's name or id.") var machine: String

    func send(_ client: Client) async throws -> Components.Schemas.Operation {
        try await client.killMachine(path: .init(machine: machine)).accepted.body.json
    }
}

/// `paz-machine rm MACHINE [--force]`.
struct RemoveMachine: MachineActionCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a machine.")
    @OptionGroup var globals: GlobalOptions
    @OptionGroup var wait: WaitOptions
    @Flag(help: "Forget the machine even when the driver cannot remove it at the provider.")
    var force = false
    @Argument(help: "The machine's name or id.") var machine: String

    func send(_ client: Client) async throws -> Components.Schemas.Operation {
        try await client.deleteMachine(path: .init(machine: machine), query: .init(force: force ? true : nil)).accepted.body.json
    }
}
