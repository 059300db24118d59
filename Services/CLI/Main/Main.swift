import PazMachineCLI

@main
enum Main {
    static func main() async throws {
        // Replaced when PazMachineCLI lands.
    }
}
