import Foundation
import PazLocalServers
import Testing

/// The official Ignition 3.4 JSON schema (Fixtures/ignition-v3_4.schema.json), checked by Python's
/// jsonschema in a child process awaited without blocking a thread of the cooperative pool.
enum IgnitionSchema {
    /// Nil when `document` satisfies the schema, else Python's output (a `ValidationError` when the
    /// document breaks the schema).
    static func errors(in document: Data) async throws -> String? {
        let schema = try #require(Bundle.module.url(forResource: "ignition-v3_4.schema", withExtension: "json", subdirectory: "Fixtures"))
        let scratch = try ScratchDirectory.make(prefix: "paz-ignition-schema")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let config = scratch.appendingPathComponent("config.ign")
        try document.write(to: config)
        let output = scratch.appendingPathComponent("output")
        let script = "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))"
        let process = try ManagedProcess(executable: "python3", arguments: ["-c", script, config.path, schema.path], logFile: output)
        let deadline = ContinuousClock.now + .seconds(60)
        while process.isRunning {
            guard ContinuousClock.now < deadline else {
                await process.kill()
                throw ValidationTimedOut()
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.waitUntilExit() == 0 ? nil : try String(contentsOf: output, encoding: .utf8)
    }

    /// Python's jsonschema did not finish within a minute.
    struct ValidationTimedOut: Error {}
}
