import PazEC2Driver
import PazServiceKit

@main
enum Main {
    static func main() async {
        await ServiceKit.runMain("paz-driver-ec2") {
            try await EC2Driver.runService()
        }
    }
}
