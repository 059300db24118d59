import PazDigitalOceanDriver
import PazServiceKit

@main
enum Main {
    static func main() async {
        await ServiceKit.runMain("paz-driver-digitalocean") {
            try await DigitalOceanDriverService.run()
        }
    }
}
