package import PazLocalServers

/// Why a moto helper of the test support (inventory, fault proxy, signed curl request) failed.
package enum EC2TestSupportError: Error, CustomStringConvertible {
    /// A helper script is missing from the PazTestSupport resources.
    case missingScript(String)
    /// A helper program exited with a failure status; carries its error output.
    case processFailed(command: String, status: Int32, errorOutput: String)
    /// A helper program did not finish in time and was killed.
    case timedOut(command: String, after: Duration)
    /// A helper answered something that could not be read.
    case unreadableOutput(command: String, reason: String)
    /// Starting a process, preparing files or a request to a local server failed.
    case localServer(LocalServerError)

    package var description: String {
        switch self {
        case .missingScript(let name):
            "\(name) is missing from the PazTestSupport resources"
        case .processFailed(let command, let status, let errorOutput):
            "\(command) exited with status \(status): \(errorOutput)"
        case .timedOut(let command, let after):
            "\(command) did not finish within \(after) and was killed"
        case .unreadableOutput(let command, let reason):
            "could not read the output of \(command): \(reason)"
        case .localServer(let error):
            "\(error)"
        }
    }
}
