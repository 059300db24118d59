import Foundation
@testable import PazMachineCLI
import Synchronization

/// A terminal that keeps what commands write, for assertions.
final class CapturedTerminal: Sendable {
    private let outText = Mutex("")
    private let errText = Mutex("")

    var out: String { outText.withLock { $0 } }
    var err: String { errText.withLock { $0 } }

    var terminal: Terminal {
        Terminal(out: { text in self.outText.withLock { $0 += text } }, err: { text in self.errText.withLock { $0 += text } })
    }
}

/// A private directory under /tmp for one test (config, data), removed by the test.
func temporaryDirectory(_ name: String) throws -> URL {
    let url = URL(fileURLWithPath: "/tmp/paz-cli-\(name)-\(getpid())-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A context writing to `captured`, with its config file in `directory`.
func makeContext(
    _ captured: CapturedTerminal, directory: URL, format: OutputFormat = .text, environment: [String: String] = [:],
    gateway: String? = nil, token: String? = nil, executables: URL? = nil
) -> CLIContext {
    var context = CLIContext(
        format: format, terminal: captured.terminal, environment: environment,
        configFile: directory.appendingPathComponent("config/paz-machine/config.json"),
        gatewayOverride: gateway, tokenOverride: token, executableDirectory: executables ?? directory)
    context.pollInterval = .milliseconds(50)
    return context
}

/// The file mode bits of `path`.
func mode(_ path: String) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: path)
    return (attributes[.posixPermissions] as? NSNumber)?.intValue ?? -1
}
