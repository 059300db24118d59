import Foundation
import PazLocalServers

/// Runs a helper program (curl, a Python script) to completion from async code: the caller's task
/// sleeps between polls instead of blocking a thread, and the program is killed at the deadline.
enum HelperProcess {
    /// What the program wrote, and how it ended.
    struct Output {
        var status: Int32
        var standardOutput: String
        var errorOutput: String
        /// The text of the files asked for, by name (a file not there reads as empty).
        var files: [String: String]
    }

    /// Runs `executable` with `arguments` (given the scratch directory), `environment` added to ours.
    /// `prepare` may write input files to the scratch directory first; the text of the files named in
    /// `collecting` is returned; the directory is removed afterwards. `command` names the run in errors.
    static func run(
        _ executable: String, _ arguments: (URL) -> [String], environment: [String: String] = [:],
        prepare: (URL) throws(EC2TestSupportError) -> Void = { _ in }, collecting: [String] = [],
        command: String, timeout: Duration
    ) async throws(EC2TestSupportError) -> Output {
        let directory: URL
        do {
            directory = try ScratchDirectory.make(prefix: "paz-helper")
        } catch {
            throw .localServer(error)
        }
        defer { try? FileManager.default.removeItem(at: directory) }
        try prepare(directory)
        let outputFile = directory.appendingPathComponent("stdout")
        let errorFile = directory.appendingPathComponent("stderr")
        let process: ManagedProcess
        do {
            process = try ManagedProcess(
                executable: executable, arguments: arguments(directory), environment: environment,
                logFile: outputFile, errorFile: errorFile
            )
        } catch {
            throw .localServer(error)
        }
        guard let status = await process.exitCode(within: timeout) else {
            await process.kill()
            throw .timedOut(command: command, after: timeout)
        }
        let read = { (file: URL) in (try? String(contentsOf: file, encoding: .utf8)) ?? "" }
        var files: [String: String] = [:]
        for name in collecting {
            files[name] = read(directory.appendingPathComponent(name))
        }
        return Output(
            status: status, standardOutput: read(outputFile), errorOutput: read(errorFile), files: files
        )
    }

    /// The path of `name` in the PazTestSupport resources (`EC2/Scripts`).
    static func script(_ name: String) throws(EC2TestSupportError) -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Scripts") else {
            throw .missingScript(name)
        }
        return url.path
    }
}
