package import PazGatewayAPI

/// Why a command failed. Every message says what to do next; ``exitCode`` is what the process exits with.
package enum CLIError: Error, Equatable, CustomStringConvertible {
    /// No gateway URL or token configured.
    case notLoggedIn
    /// The gateway answered with an RFC 9457 problem.
    case problem(Components.Schemas.Problem)
    /// The gateway could not be reached or answered something unreadable.
    case transport(String)
    /// An operation the command waited for ended `failed`.
    case operationFailed(Components.Schemas.Operation)
    /// The command line is wrong in a way the argument parser cannot see (dynamic driver flags…).
    case usage(String)
    /// The config file or the local stack's files could not be read or written.
    case file(String)
    /// The local stack could not be started or stopped.
    case localStack(String)

    /// The process exit code: 1 for errors, 2 when an operation ran and failed, 64 for usage errors.
    package var exitCode: Int32 {
        switch self {
        case .operationFailed: 2
        case .usage: 64
        default: 1
        }
    }

    package var description: String {
        switch self {
        case .notLoggedIn:
            "not logged in: run `paz-machine login --gateway URL --token TOKEN` or `paz-machine up`"
        case .problem(let problem):
            Self.describe(problem)
        case .transport(let reason):
            reason
        case .operationFailed(let operation):
            "operation \(operation.id) (\(operation.kind.rawValue)) failed"
                + (operation.error.map { ": " + Self.describe($0, prefix: false) } ?? "")
                + Self.machineFailures(operation)
        case .usage(let reason), .file(let reason), .localStack(let reason):
            reason
        }
    }

    /// `error: <title>: <detail> (field: x)`, without the `error: ` prefix when `prefix` is false.
    package static func describe(_ problem: Components.Schemas.Problem, prefix: Bool = false) -> String {
        var text = problem.title
        if let detail = problem.detail, !detail.isEmpty { text += ": " + detail }
        var notes: [String] = []
        if let field = problem.field { notes.append("field: \(field)") }
        if let operation = problem.operation { notes.append("operation: \(operation)") }
        if !notes.isEmpty { text += " (" + notes.joined(separator: ", ") + ")" }
        return text
    }

    private static func machineFailures(_ operation: Components.Schemas.Operation) -> String {
        operation.machines.compactMap { progress in
            guard progress.state == .failed else { return nil }
            let reason = progress.error.map { describe($0) } ?? progress.message ?? "failed"
            return "\n  \(progress.machine): \(reason)"
        }.joined()
    }
}
