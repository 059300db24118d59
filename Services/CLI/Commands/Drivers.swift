import ArgumentParser
import Foundation
import PazGatewayAPI

/// `paz-machine drivers [DRIVER]`: the live drivers, or one driver's create options.
struct Drivers: ContextCommand {
    static let configuration = CommandConfiguration(abstract: "List live drivers, or show one driver's create options.")

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "A driver to show in detail.")
    var driver: String?

    func run(_ context: CLIContext) async throws {
        if let driver {
            let found = try await context.withClient { try await $0.getDriver(path: .init(driver: driver)).ok.body.json }
            try context.emit(found, text: Self.render(driver:))
        } else {
            let list = try await context.withClient { try await $0.listDrivers().ok.body.json }
            try context.emit(list, text: Self.render(drivers:))
        }
    }

    static func render(drivers list: Components.Schemas.DriverList) -> String {
        Table(["NAME", "VERSIONS", "REPLICAS", "CAPABILITIES", "HEARTBEAT"], rows: list.drivers.map { driver in
            [
                driver.name, driver.versions.map(\.version).joined(separator: ","),
                String(driver.versions.reduce(0) { $0 + $1.replicas }),
                driver.capabilities.joined(separator: ","), Format.age(of: driver.lastHeartbeat),
            ]
        }).render()
    }

    static func render(driver: Components.Schemas.Driver) -> String {
        var text = "\(driver.name)" + (driver.description.map { ": \($0)" } ?? "") + "\n"
        text += "capabilities: \(driver.capabilities.joined(separator: ", "))\n\n"
        text += Table(["FLAG", "TYPE", "REQUIRED", "DEFAULT", "ENV", "DESCRIPTION"], rows: driver.createOptions.map { option in
            let type = option._type == ._enum ? "enum(\((option.values ?? []).joined(separator: "|")))" : option._type.rawValue
            return [
                option.flag, type + (option.secret ? ", secret" : ""), option.required ? "yes" : "no",
                option._default.map(Self.describe) ?? "", option.envVar, option.description,
            ]
        }).render()
        return text
    }

    static func describe(_ value: Components.Schemas.OptionValue) -> String {
        switch value {
        case .StringValue(let text): text
        case .IntegerValue(let number): String(number)
        case .BooleanValue(let flag): String(flag)
        }
    }
}
