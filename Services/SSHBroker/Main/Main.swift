import PazSSHBroker
import PazServiceKit

@main
enum Main {
    static func main() async {
        await ServiceKit.runMain("paz-ssh-broker") {
            try await SSHBrokerCommand.main()
        }
    }
}
