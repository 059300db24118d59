import Foundation
import PazConcurrency
import Testing

@Suite struct DedicatedThreadTests {
    @Test func jobsRunInOrderOnTheOwnThread() async throws {
        let thread = DedicatedThread(name: "test-order")
        defer { thread.shutdown() }
        var seen: [Int] = []
        for index in 0..<100 {
            let (value, onThread) = try await thread.run { (index, thread.isCurrent) }
            #expect(onThread)
            seen.append(value)
        }
        #expect(seen == Array(0..<100))
        #expect(!thread.isCurrent)
    }

    @Test func errorsPropagateToTheCaller() async {
        struct Boom: Error {}
        let thread = DedicatedThread(name: "test-error")
        defer { thread.shutdown() }
        await #expect(throws: Boom.self) {
            try await thread.run { throw Boom() }
        }
    }

    @Test func jobsAfterShutdownFail() async throws {
        let thread = DedicatedThread(name: "test-shutdown")
        thread.shutdown()
        await #expect(throws: DedicatedThreadError.self) {
            try await thread.run { 1 }
        }
    }
}
