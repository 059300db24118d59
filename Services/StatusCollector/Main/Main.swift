import PazStatusCollector

@main
enum Main {
    static func main() async throws {
        // Replaced when PazStatusCollector lands.
    }
}
