import PazGenericDriver

@main
enum Main {
    static func main() async throws {
        try await GenericDriver.runService()
    }
}
