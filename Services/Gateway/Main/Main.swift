import PazGateway

@main
enum Main {
    static func main() async throws {
        // Replaced when PazGateway lands.
    }
}
