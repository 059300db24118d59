import ArgumentParser
import Foundation
import PazGatewayAPI

/// `paz-machine images DRIVER [--search TEXT]`: the driver's image catalog.
struct Images: ContextCommand {
    static let configuration = CommandConfiguration(abstract: "List the images a driver can create machines from.")

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "The driver (see `paz-machine drivers`).")
    var driver: String

    @Option(help: "Only images whose id or name contains this text.")
    var search: String?

    func run(_ context: CLIContext) async throws {
        let list = try await context.withClient {
            try await $0.listDriverImages(path: .init(driver: driver), query: .init(search: search)).ok.body.json
        }
        try context.emit(list) { list in
            Table(["ID", "NAME", "DESCRIPTION"], rows: list.images.map { [$0.id, $0.name, $0.description ?? ""] }).render()
                + (list.truncated ? "(more images match: narrow --search)\n" : "")
        }
    }
}

/// `paz-machine sizes DRIVER`: the driver's machine sizes.
struct Sizes: ContextCommand {
    static let configuration = CommandConfiguration(abstract: "List the machine sizes of a driver.")

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "The driver (see `paz-machine drivers`).")
    var driver: String

    func run(_ context: CLIContext) async throws {
        let list = try await context.withClient { try await $0.listDriverSizes(path: .init(driver: driver)).ok.body.json }
        try context.emit(list) { list in
            Table(["ID", "NAME", "VCPUS", "RAM MIB", "DISK GIB"], rows: list.sizes.map {
                [$0.id, $0.name, String($0.vcpus), String($0.ramMiB), String($0.diskGiB)]
            }).render()
        }
    }
}

/// `paz-machine locations DRIVER`: where the driver can create machines.
struct Locations: ContextCommand {
    static let configuration = CommandConfiguration(abstract: "List the locations (regions, hosts) of a driver.")

    @OptionGroup var globals: GlobalOptions

    @Argument(help: "The driver (see `paz-machine drivers`).")
    var driver: String

    func run(_ context: CLIContext) async throws {
        let list = try await context.withClient { try await $0.listDriverLocations(path: .init(driver: driver)).ok.body.json }
        try context.emit(list) { list in
            Table(["ID", "NAME", "COUNTRY"], rows: list.locations.map { [$0.id, $0.name, $0.country ?? ""] }).render()
        }
    }
}
