import PazGateway
import PazServiceKit
import ServiceLifecycle

@main
enum Main {
    static func main() async {
        await ServiceKit.runMain("paz-gateway") {
            let reader = try await ConfigurationSources.makeReader()
            let runtime = try ServiceKit.bootstrap(try ServiceKitConfiguration(reader: reader, defaultServiceName: "paz-gateway"))
            let gateway = try buildGatewayServices(configuration: try GatewayConfiguration(reader: reader), runtime: runtime)
            try await buildServiceGroup(runtime, services: gateway.services).run()
        }
    }
}
