import ArgumentParser
import Foundation

/// Where the local stack keeps its data.
struct StackOptions: ParsableArguments, Sendable {
    @Option(help: "The local stack's data directory (default: $XDG_DATA_HOME/paz-machine; /var/lib/paz-machine as root, else ~/.local/share/paz-machine).")
    var dataDir: String?

    func stack(_ context: CLIContext) -> LocalStack {
        LocalStack(
            dataDirectory: dataDir.map { URL(fileURLWithPath: $0).standardizedFileURL }
                ?? LocalStack.defaultDataDirectory(environment: context.environment),
            context: context)
    }
}

/// `paz-machine up`: starts the local control plane in the background and logs the CLI in to it.
struct Up: ContextCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start a local control plane (Redis, RabbitMQ, SSH broker, gateway, status collector, drivers).",
        discussion: """
            Everything listens on 127.0.0.1 and keeps running after this command returns; its data, logs \
            and state stay in the data directory. Running it again while the stack runs is harmless. \
            Stop it with `paz-machine down`.
            """)

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var stackOptions: StackOptions
    @Option(help: """
        single: one Redis, one RabbitMQ node, one process of each service. ha: a 3-node RabbitMQ cluster, \
        Redis primary + replica + 3 Sentinels, 2 replicas of each service and HAProxy \
        in front of the 2 gateways (docs/deploy.md). A data directory keeps its first topology.
        """)
    var topology: LocalStack.Topology = .single

    func run(_ context: CLIContext) async throws {
        let stack = stackOptions.stack(context)
        let state = try await stack.up(topology: topology)
        try context.emit(state) { state in
            Table(["PROCESS", "PID", "LOG"], rows: state.processes.map { [$0.name, String($0.pid), $0.log] }).render()
        }
        if context.format == .text {
            context.note("""

                The gateway is at \(state.gatewayURL.absoluteString) and the CLI is logged in to it. Next:
                  paz-machine drivers
                  paz-machine cluster create lab --driver generic --generic-ip-address 127.0.0.2,127.0.0.3 \\
                      --generic-ssh-user USER --generic-ssh-key @PATH/TO/KEY
                  paz-machine status
                Stop everything with `paz-machine down` (data stays in \(stack.dataDirectory.path)).
                """)
        }
    }
}

/// `paz-machine down`: stops the local control plane, keeping its data.
struct Down: ContextCommand {
    static let configuration = CommandConfiguration(
        abstract: "Stop the local control plane (services first, then the servers); its data is kept.")

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var stackOptions: StackOptions

    func run(_ context: CLIContext) async throws {
        let stack = stackOptions.stack(context)
        if try await stack.down() {
            context.note("the local stack is stopped; its data stays in \(stack.dataDirectory.path)")
        } else {
            context.note("no local stack is running (data directory \(stack.dataDirectory.path))")
        }
    }
}

extension LocalStack.Topology: ExpressibleByArgument {}
