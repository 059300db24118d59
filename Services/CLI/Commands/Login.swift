import ArgumentParser
import Foundation
import PazGatewayAPI

/// `paz-machine login`: stores the gateway URL and a tenant token in the config file (0600).
struct Login: ContextCommand {
    static let configuration = CommandConfiguration(
        abstract: "Store the gateway URL and tenant token in the config file.",
        discussion: "The token is checked with the gateway (GET /v1/status) unless --no-verify is given.")

    @OptionGroup var globals: GlobalOptions

    @Flag(help: "Store the values without asking the gateway whether the token works.")
    var noVerify = false

    func run(_ context: CLIContext) async throws {
        guard let gateway = context.gatewayOverride, let token = context.tokenOverride else {
            throw CLIError.usage("login needs --gateway URL and --token TOKEN (or PAZ_TOKEN)")
        }
        var config = try CLIConfig.load(from: context.configFile)
        config.gateway = gateway
        config.token = token
        if !noVerify {
            _ = try await context.withClient { client in try await client.getStatus().ok }
        }
        try config.save(to: context.configFile)
        context.note("logged in to \(gateway); config written to \(context.configFile.path)")
    }
}
