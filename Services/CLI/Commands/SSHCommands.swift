import ArgumentParser
import Foundation
import PazGatewayAPI
import PazOpenSSH

/// Options of the commands that log in with broker-issued credentials.
struct CredentialOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("user"), help: "The login user (default: the machine's SSH user).")
    var principal: String?

    @Option(help: "How long the certificate is valid, in seconds (default 300; the broker caps it).")
    var ttl: Int?

    /// Short-lived credentials for `machine`: a key pair made here, whose public half the SSH broker
    /// certifies through the gateway (the private key never leaves this computer).
    func issue(_ machine: String, client: Client) async throws -> IssuedCredentials {
        let key = OpenSSHPrivateKey.generate(.ed25519)
        let credentials = try await client.issueSSHCredentials(
            path: .init(machine: machine),
            body: .json(.init(principal: principal, ttlSeconds: ttl, publicKey: key.publicKey.line(comment: "paz-machine")))
        ).ok.body.json
        return IssuedCredentials(credentials: credentials, privateKey: key.openSSHFile(comment: "paz-machine"))
    }
}

/// Runs `body` with credentials for `machine` written to a private temporary directory, removed
/// afterwards whatever happens.
private func withCredentialFiles<T>(
    _ machine: String, options: CredentialOptions, context: CLIContext, _ body: (SSHCredentialFiles) async throws -> T
) async throws -> T {
    let issued = try await context.withClient { try await options.issue(machine, client: $0) }
    let files = try SSHCredentialFiles(issued, in: SSHCredentialFiles.temporaryDirectory(environment: context.environment))
    do {
        let result = try await body(files)
        files.remove()
        return result
    } catch {
        files.remove()
        throw error
    }
}

/// `paz-machine ssh MACHINE [-- COMMAND…]`: the system OpenSSH client with credentials that expire.
struct SSH: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh", abstract: "Open a shell on a machine, or run one command (after --).",
        discussion: """
            Runs the system ssh with a key and a user certificate the SSH broker issued for a few \
            minutes; the host is verified through the tenant's host CA (StrictHostKeyChecking=yes, no \
            prompt). The key files are private (0600) and removed when ssh ends. The exit status is the \
            remote command's.
            """)

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var credentialOptions: CredentialOptions

    @Argument(help: "The machine's name or id.")
    var machine: String

    @Argument(parsing: .postTerminator, help: "The command to run instead of a shell.")
    var command: [String] = []

    func run(_ context: CLIContext) async throws {
        let status = try await withCredentialFiles(machine, options: credentialOptions, context: context) { files in
            try await ForegroundCommand.run(
                "ssh", files.clientOptions + [files.credentials.host] + (command.isEmpty ? [] : ["--"] + command),
                environment: context.environment)
        }
        if status != 0 { throw ExitCode(status) }
    }
}

/// `paz-machine scp SOURCE… TARGET`: copies to or from one machine (`MACHINE:PATH`).
struct SCP: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "scp", abstract: "Copy files to or from a machine (MACHINE:PATH), with short-lived credentials.")

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var credentialOptions: CredentialOptions

    @Flag(name: .short, help: "Copy directories recursively.")
    var recursive = false

    @Argument(help: "Sources then the target; exactly one side names a machine as MACHINE:PATH.")
    var paths: [String]

    func validate() throws {
        guard paths.count >= 2 else { throw ValidationError("scp needs a SOURCE and a TARGET") }
    }

    func run(_ context: CLIContext) async throws {
        let remote = try Self.remoteMachine(paths)
        let status = try await withCredentialFiles(remote, options: credentialOptions, context: context) { files in
            let host = files.credentials.host.contains(":") ? "[\(files.credentials.host)]" : files.credentials.host
            let rewritten = paths.map { path in
                path.hasPrefix(remote + ":") ? host + String(path.dropFirst(remote.count)) : path
            }
            return try await ForegroundCommand.run(
                "scp", files.clientOptions + (recursive ? ["-r"] : []) + ["--"] + rewritten, environment: context.environment)
        }
        if status != 0 { throw ExitCode(status) }
    }

    /// The one machine the paths name (`MACHINE:PATH`); a local path with a colon must start with `./` or `/`.
    static func remoteMachine(_ paths: [String]) throws(CLIError) -> String {
        let machines = Set(paths.compactMap { path -> String? in
            guard !path.hasPrefix("/"), !path.hasPrefix("."), let colon = path.firstIndex(of: ":") else { return nil }
            return String(path[..<colon])
        })
        guard machines.count == 1, let machine = machines.first, !machine.isEmpty else {
            throw .usage(machines.isEmpty
                ? "scp: name the machine on one side as MACHINE:PATH"
                : "scp: copy to or from one machine at a time, not \(machines.sorted().joined(separator: ", "))")
        }
        return machine
    }
}

/// `paz-machine ssh-config [CLUSTER]`: OpenSSH `Host` blocks for `Include`, with fresh credentials.
struct SSHConfig: ContextCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh-config", abstract: "Print OpenSSH Host blocks (for Include) for the machines of a cluster, or all.",
        discussion: """
            Issues credentials for every machine (valid --ttl seconds) and keeps them under \
            $XDG_STATE_HOME/paz-machine/ssh (0700, keys 0600). Then `ssh NAME` works until they expire; run \
            it again for new ones. Example: paz-machine ssh-config lab > ~/.ssh/paz-lab.conf and \
            `Include paz-lab.conf` in ~/.ssh/config.
            """)

    @OptionGroup var globals: GlobalOptions
    @OptionGroup var credentialOptions: CredentialOptions

    @Argument(help: "Only the machines of this cluster.")
    var cluster: String?

    func run(_ context: CLIContext) async throws {
        let root = Self.stateDirectory(environment: context.environment)
        let blocks = try await context.withClient { client in
            let machines = try await client.listMachines(query: .init(cluster: cluster)).ok.body.json.machines
            var blocks: [String] = []
            for machine in machines where machine.ssh != nil {
                let issued = try await credentialOptions.issue(machine.id, client: client)
                let files = try SSHCredentialFiles(issued, in: root.appendingPathComponent(machine.id))
                blocks.append(files.hostBlock(alias: machine.name))
            }
            return blocks
        }
        if blocks.isEmpty { context.note("no machine with an SSH endpoint" + (cluster.map { " in cluster \($0)" } ?? "")) }
        context.print(blocks.joined(separator: "\n"))
    }

    /// `$XDG_STATE_HOME/paz-machine/ssh`, else `~/.local/state/paz-machine/ssh`.
    static func stateDirectory(environment: [String: String]) -> URL {
        let base = environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.local/state")
        return URL(fileURLWithPath: base).appendingPathComponent("paz-machine/ssh")
    }
}
