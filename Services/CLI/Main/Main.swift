import ArgumentParser
import PazMachineCLI

@main
enum Main {
    static func main() async {
        await PazMachine.main()
    }
}
