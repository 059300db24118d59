package import ArgumentParser

/// `paz-machine`: the command-line client of the gateway, and the local stack (`up`/`down`).
package struct PazMachine: AsyncParsableCommand {
    package static let configuration = CommandConfiguration(
        commandName: "paz-machine",
        abstract: "Create and run clusters of machines through a Paz Machine gateway.",
        discussion: """
            Start a local control plane with `paz-machine up`, or point the CLI at a gateway with \
            `paz-machine login --gateway URL --token TOKEN`. Results go to stdout (tables, or JSON with \
            --output json); progress and notes go to stderr.
            """,
        subcommands: [
            Up.self, Down.self, Login.self, Drivers.self, Defaults.self, Images.self, Sizes.self, Locations.self, ClusterCommand.self,
            CreateMachine.self, ListMachines.self, Status.self, InspectMachine.self,
            StartMachine.self, StopMachine.self, RestartMachine.self, KillMachine.self, RemoveMachine.self,
            MachineIP.self, SSH.self, SCP.self, SSHConfig.self, Probe.self, OpsCommand.self,
        ]
    )

    package init() {}
}

/// A command that runs against a ``CLIContext``: `run()` builds the context from the process and
/// reports errors; tests call ``run(_:)`` with their own context.
package protocol ContextCommand: AsyncParsableCommand {
    /// The options every command takes.
    var globals: GlobalOptions { get }
    /// The command's work.
    func run(_ context: CLIContext) async throws
}

extension ContextCommand {
    package func run() async throws {
        let context = CLIContext(options: globals)
        do {
            try await run(context)
        } catch let error as ExitCode {
            throw error
        } catch {
            let failure = CLIError(error)
            context.note("error: \(failure)")
            throw ExitCode(failure.exitCode)
        }
    }
}
