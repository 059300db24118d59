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

    /// Jobs that come while the thread spins, and jobs that come after it went to sleep, both run,
    /// in order, on the thread; shutdown still ends it.
    @Test func aSpinningThreadRunsJobsThatComeWhileItSpinsAndAfterItSleeps() async throws {
        let thread = DedicatedThread(name: "test-spin", spinBeforeParking: .milliseconds(5))
        var seen: [Int] = []
        for index in 0..<200 {
            // Back to back (within the spin), and every 20th after a pause far longer than the spin.
            if index % 20 == 0 { try await Task.sleep(for: .milliseconds(20)) }
            let (value, onThread) = try await thread.run { (index, thread.isCurrent) }
            #expect(onThread)
            seen.append(value)
        }
        #expect(seen == Array(0..<200))
        thread.shutdown()
        await #expect(throws: DedicatedThreadError.self) {
            try await thread.run { 1 }
        }
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
