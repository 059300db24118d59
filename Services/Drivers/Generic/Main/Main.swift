import PazGenericDriver
import PazServiceKit

@main
enum Main {
    static func main() async {
        await ServiceKit.runMain("paz-driver-generic") {
            try await GenericDriver.runService()
        }
    }
}
