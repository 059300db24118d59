package import PazGatewayAPI

/// Follows an operation until it ends, polling `GET /v1/operations/{id}` and writing one stderr line
/// whenever a machine's state, step or message changes.
package struct OperationWaiter: Sendable {
    private let context: CLIContext

    package init(context: CLIContext) {
        self.context = context
    }

    /// What a mutating command does with the 202 it got: with `wait`, follow the operation and report
    /// its outcome (throwing ``CLIError/operationFailed(_:)`` when it failed); without, print its id.
    package func finish(_ operation: Components.Schemas.Operation, wait: Bool, client: Client) async throws -> Components.Schemas.Operation {
        guard wait else {
            try context.emit(operation) { $0.id }
            if context.format == .text { context.note("follow it with `paz-machine ops wait \(operation.id)`") }
            return operation
        }
        let final = try await self.wait(for: operation, client: client)
        try report(final)
        return final
    }

    /// Polls until the operation is `succeeded` or `failed` and returns its last state.
    package func wait(for operation: Components.Schemas.Operation, client: Client) async throws -> Components.Schemas.Operation {
        var progress = ProgressLog()
        var current = operation
        context.note("\(current.kind.rawValue) \(current.id): \(current.state.rawValue)")
        context.terminal.err(progress.lines(for: current))
        while !current.isFinished {
            try await Task.sleep(for: context.pollInterval)
            current = try await client.getOperation(path: .init(operation: current.id)).ok.body.json
            context.terminal.err(progress.lines(for: current))
        }
        return current
    }

    /// Prints the final operation (JSON, or a summary note) and throws when it failed.
    package func report(_ operation: Components.Schemas.Operation) throws(CLIError) {
        switch context.format {
        case .json: context.terminal.out(try Format.json(operation))
        case .text:
            let machines = operation.machines.map(\.machine).joined(separator: ", ")
            if operation.state == .succeeded {
                context.print("\(operation.kind.rawValue) succeeded" + (machines.isEmpty ? "" : ": \(machines)"))
            }
        }
        if operation.state == .failed { throw .operationFailed(operation) }
    }
}

/// The progress lines not yet shown for an operation: one per machine whose (state, step, message)
/// changed since the last call.
package struct ProgressLog: Sendable {
    private var shown: [String: String] = [:]

    package init() {}

    /// Lines (each ending in `\n`) for what changed in `operation`; empty when nothing did.
    package mutating func lines(for operation: Components.Schemas.Operation) -> String {
        var text = ""
        for machine in operation.machines {
            var line = "  \(machine.machine): \(machine.state.rawValue)"
            if let step = machine.step { line += " [\(step)]" }
            if let message = machine.message, !message.isEmpty { line += " \(message)" }
            if machine.state == .failed, let error = machine.error { line += " — " + CLIError.describe(error) }
            guard shown[machine.machineId] != line else { continue }
            shown[machine.machineId] = line
            text += line + "\n"
        }
        return text
    }
}

extension Components.Schemas.Operation {
    /// True once the operation `succeeded` or `failed`.
    package var isFinished: Bool { state == .succeeded || state == .failed }
}
