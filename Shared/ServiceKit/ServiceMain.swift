import Foundation

extension ServiceKit {
    /// Runs a service's `main`: an error that ends it (bad configuration, a port already taken) is
    /// written to stderr as one line naming the service, and the process exits with status 1 instead
    /// of crashing with a backtrace.
    package static func runMain(_ service: String, _ body: sending () async throws -> Void) async -> Never {
        do {
            try await body()
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("\(service): \(error)\n".utf8))
            exit(1)
        }
    }
}
