import ArgumentParser
import Foundation
import PazGatewayAPI

/// `paz-machine status [--cluster C]`: every machine's state, with its age.
struct Status: ContextCommand {
    static let configuration = CommandConfiguration(abstract: "Show the state of every machine (from the status collector).")

    @OptionGroup var globals: GlobalOptions
    @Option(help: "Only this cluster.") var cluster: String?

    func run(_ context: CLIContext) async throws {
        let report = try await context.withClient { try await $0.getStatus(query: .init(cluster: cluster)).ok.body.json }
        try context.emit(report, text: Self.render)
    }

    static func render(_ report: Components.Schemas.StatusReport) -> String {
        Table(["CLUSTER", "MACHINE", "STATE", "OBSERVED", "OPERATION"], rows: report.clusters.flatMap { cluster in
            cluster.machines.map { machine in
                [
                    cluster.name, machine.name, StateText.describe(machine.state, stale: machine.stale),
                    machine.ageSeconds.map(Format.age) ?? "never",
                    machine.pendingOperation.map { "\($0.kind.rawValue) \($0.id)" } ?? "",
                ]
            }
        }).render()
    }
}

/// `paz-machine ops …`.
struct OpsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops", abstract: "Follow operations.", subcommands: [OpsWait.self])
}

/// `paz-machine ops wait ID`: follows an operation to its end; the exit code is its outcome.
struct OpsWait: ContextCommand {
    static let configuration = CommandConfiguration(commandName: "wait", abstract: "Wait for an operation to end.")

    @OptionGroup var globals: GlobalOptions
    @Argument(help: "The operation id (op_…).") var operation: String

    func run(_ context: CLIContext) async throws {
        try await context.withClient { client in
            let current = try await client.getOperation(path: .init(operation: operation)).ok.body.json
            _ = try await OperationWaiter(context: context).finish(current, wait: true, client: client)
        }
    }
}
