import Foundation

/// Runs a short helper program (ssh-keygen, useradd, chown) to completion, capturing its output.
/// For commands that finish in milliseconds; servers are started with ``ManagedProcess``.
package enum HelperCommand {
    /// Runs `name` with `arguments`; throws unless it exits 0.
    package static func run(_ name: String, _ arguments: [String]) throws(LocalServerError) {
        let (status, output) = try execute(name, arguments)
        guard status == 0 else {
            throw .commandFailed(([name] + arguments).joined(separator: " "), status: status, output: output)
        }
    }

    /// Runs `name` with `arguments` and returns its exit status.
    package static func status(_ name: String, _ arguments: [String]) throws(LocalServerError) -> Int32 {
        try execute(name, arguments).status
    }

    private static func execute(_ name: String, _ arguments: [String]) throws(LocalServerError) -> (status: Int32, output: String) {
        guard let path = ManagedProcess.locate(name) else { throw .missingExecutable(name) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw .launchFailed(path, "\(error)")
        }
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
