import ArgumentParser
import Foundation
import PazGatewayAPI

/// `paz-machine probe MACHINE`: reachability, uptime, load, kernel, OS and running services over SSH.
struct Probe: ContextCommand {
    static let configuration = CommandConfiguration(
        abstract: "Probe a machine over SSH: reachable, uptime, load, kernel, OS, running services.",
        discussion: "Exits 1 when the machine did not answer (the reason is in the output).")

    @OptionGroup var globals: GlobalOptions

    @Option(help: "Seconds the probe may take (1-60).")
    var timeout: Int?

    @Flag(help: "Leave out the running services.")
    var noUnits = false

    @Argument(help: "The machine's name or id.")
    var machine: String

    func run(_ context: CLIContext) async throws {
        let result = try await context.withClient { client in
            try await client.probeMachine(
                path: .init(machine: machine), body: .json(.init(timeoutSeconds: timeout, units: noUnits ? false : nil))
            ).ok.body.json
        }
        try context.emit(result, text: Self.render)
        if !result.reachable { throw ExitCode(1) }
    }

    static func render(_ result: Components.Schemas.ProbeResult) -> String {
        var fields: [(String, String)] = [
            ("machine", result.machine), ("reachable", result.reachable ? "yes" : "no"),
            ("probed", "\(Format.age(of: result.observedAt)) in \(result.durationMs) ms"),
        ]
        if let error = result.error { fields.append(("error", error)) }
        if let uptime = result.uptimeSeconds { fields.append(("uptime", Format.duration(seconds: Int(uptime)))) }
        if let load = result.load {
            fields.append(("load", String(format: "%.2f %.2f %.2f", load.one, load.five, load.fifteen)))
        }
        if let kernel = result.kernel { fields.append(("kernel", kernel)) }
        if let os = result.os { fields.append(("os", os.prettyName ?? [os.id, os.versionId].compactMap { $0 }.joined(separator: " "))) }
        if let units = result.units { fields.append(("services", units.isEmpty ? "-" : units.map(\.name).joined(separator: " "))) }
        return KeyValues.render(fields)
    }
}
