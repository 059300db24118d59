import PazHetznerDriver
import PazServiceKit

@main
enum Main {
    static func main() async {
        await ServiceKit.runMain("paz-driver-hetzner") {
            try await HetznerDriverService.run()
        }
    }
}
