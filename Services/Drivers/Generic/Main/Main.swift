import PazGenericDriver

@main
enum Main {
    static func main() async throws {
        // Replaced when PazGenericDriver lands.
    }
}
