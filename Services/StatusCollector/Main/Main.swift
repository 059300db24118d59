import PazStatusCollector
import PazServiceKit

@main
enum Main {
    static func main() async {
        await ServiceKit.runMain("paz-status-collector") {
            try await StatusCollectorCommand.main()
        }
    }
}
