import PazStatusCollector

@main
enum Main {
    static func main() async throws {
        try await StatusCollectorCommand.main()
    }
}
