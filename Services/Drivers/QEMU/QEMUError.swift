package import PazDriverKit

/// Why a QEMU driver step failed; ``driverError`` says what the user sees.
package enum QEMUError: Error, Sendable, CustomStringConvertible {
    /// A file or directory of the driver's state could not be written or read.
    case filesystem(String)
    /// QEMU (or a helper program) refused to start; `log` is what it printed.
    case launchFailed(String, log: String)
    /// A program this driver needs is missing or failed.
    case tool(ExternalToolError)
    /// QMP failed.
    case qmp(QMPError)
    /// No free resource (loopback port, cluster address) is left.
    case exhausted(String)

    package var description: String {
        switch self {
        case .filesystem(let message): message
        case .launchFailed(let what, let log): "\(what) failed to start: \(log.isEmpty ? "(no output)" : log)"
        case .tool(let error): "\(error)"
        case .qmp(let error): "\(error)"
        case .exhausted(let message): message
        }
    }

    /// The driver kit's error (and retry decision) for this failure.
    package var driverError: DriverError {
        switch self {
        case .filesystem(let message): .internal(message)
        case .launchFailed: .conflict(description)
        case .tool(.notFound): .unsupported(operation: "qemu", reason: description)
        case .tool(.timedOut): .timeout(description)
        case .tool: .internal(description)
        case .qmp(.timedOut): .timeout(description)
        case .qmp: .providerUnavailable(description)
        case .exhausted: .providerUnavailable(description)
        }
    }
}
