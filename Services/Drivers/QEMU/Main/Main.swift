import PazQEMUDriver
import PazServiceKit

@main
enum Main {
    static func main() async {
        await ServiceKit.runMain("paz-driver-qemu") {
            try await QEMUDriver.runService()
        }
    }
}
