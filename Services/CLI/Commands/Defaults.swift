import ArgumentParser
import Foundation
import PazGatewayAPI

/// `paz-machine defaults DRIVER [--<driver>-<option> VALUE …]`: shows the tenant's stored option
/// defaults for a driver, or replaces them (provider credentials for catalog calls and every create).
struct Defaults: ContextCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show or replace your stored defaults for a driver's options (e.g. cloud credentials).",
        discussion: """
            With option flags, or --set to take values from the PAZ_<DRIVER>_<OPTION> environment \
            variables too (as create does), replaces the whole stored set; with --clear, stores none; with \
            neither, shows what is stored (secret values are never shown, only their names). Catalog commands (images, sizes, \
            locations) of cloud drivers use these credentials.
            """)

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "The driver.")
    var driver: String

    @Flag(help: "Store no defaults for the driver.")
    var clear = false

    @Flag(help: "Replace the stored defaults even without option flags (values from the environment).")
    var set = false

    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("Driver options as --<driver>-<option> VALUE.", valueName: "option"))
    var arguments: [String] = []

    func validate() throws {
        if clear && (set || !arguments.isEmpty) { throw ValidationError("--clear takes no option flags and no --set") }
    }

    func run(_ context: CLIContext) async throws {
        try await context.withClient { client in
            let path = Operations.GetDriverDefaults.Input.Path(driver: driver)
            if arguments.isEmpty && !clear && !set {
                let stored = try await client.getDriverDefaults(path: path).ok.body.json
                try context.emit(stored, text: Self.render)
                return
            }
            var options = Components.Schemas.OptionMap()
            if !clear {
                let schema = try await client.getDriver(path: .init(driver: driver)).ok.body.json.createOptions
                let parsed = try DriverArguments(arguments, driver: driver, schema: schema)
                guard parsed.positionals.isEmpty else {
                    throw CLIError.usage("defaults takes option flags only, not: \(parsed.positionals.joined(separator: " "))")
                }
                let resolved = try parsed.resolve(schema: schema, environment: context.environment, count: nil)
                guard resolved.machines.isEmpty else {
                    throw CLIError.usage("give each option once: defaults apply to every machine")
                }
                options = resolved.options
            }
            let stored = try await client.setDriverDefaults(
                path: .init(driver: driver), body: .json(.init(options: options))).ok.body.json
            try context.emit(stored, text: Self.render)
        }
    }

    static func render(_ defaults: Components.Schemas.DriverDefaults) -> String {
        var rows = defaults.options.additionalProperties.sorted { $0.key < $1.key }.map { [$0.key, Drivers.describe($0.value)] }
        rows += defaults.secretOptions.sorted().map { [$0, "(secret, stored)"] }
        guard !rows.isEmpty else { return "no defaults stored for \(defaults.driver)\n" }
        return Table(["OPTION", "VALUE"], rows: rows).render()
    }
}
