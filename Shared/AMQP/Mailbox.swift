import CRabbitMQ
import Foundation
import Synchronization

/// A job for the connection thread; it receives the thread-confined state.
typealias ConnectionJob = @Sendable (ConnectionCore) -> Void

/// Jobs handed from async callers to the connection thread, plus the eventfd that wakes its poll().
final class Mailbox: Sendable {
    /// Readable while jobs are waiting.
    let eventFD: Int32
    private let state = Mutex<(jobs: [ConnectionJob], closed: Bool)>(([], false))

    init() {
        eventFD = paz_wakeup_eventfd()
        precondition(eventFD >= 0, "eventfd failed: errno \(errno)")
    }

    deinit { Glibc.close(eventFD) }

    /// Queues `job` and wakes the thread. Returns false once the mailbox is closed (the job will never run).
    ///
    /// Only the first job after a ``take()`` writes the eventfd: the jobs posted behind it are taken
    /// by the same wake-up, so a burst (a reply, then its request's ack) costs one write, and often
    /// one wake of the thread. (A job taken before its poster's write leaves one spurious wake-up.)
    func post(_ job: @escaping ConnectionJob) -> Bool {
        let (accepted, first) = state.withLock { state in
            guard !state.closed else { return (false, false) }
            state.jobs.append(job)
            return (true, state.jobs.count == 1)
        }
        if first {
            var one: UInt64 = 1
            _ = write(eventFD, &one, MemoryLayout<UInt64>.size)
        }
        return accepted
    }

    /// Takes every queued job and clears the wake-up counter (called when poll() found the eventfd
    /// readable).
    func take() -> [ConnectionJob] {
        var counter: UInt64 = 0
        _ = read(eventFD, &counter, MemoryLayout<UInt64>.size)
        return state.withLock { state in
            defer { state.jobs.removeAll(keepingCapacity: true) }
            return state.jobs
        }
    }

    /// Refuses further jobs and returns those still queued (so they can be failed, not lost).
    func close() -> [ConnectionJob] {
        state.withLock { state in
            state.closed = true
            defer { state.jobs.removeAll() }
            return state.jobs
        }
    }
}

/// Resumes one awaiting caller exactly once with a typed result.
struct Completion<Value: Sendable>: Sendable {
    private let continuation: CheckedContinuation<Result<Value, AMQPError>, Never>

    init(_ continuation: CheckedContinuation<Result<Value, AMQPError>, Never>) {
        self.continuation = continuation
    }

    func succeed(_ value: Value) { continuation.resume(returning: .success(value)) }
    func fail(_ error: AMQPError) { continuation.resume(returning: .failure(error)) }
    func resume(_ result: Result<Value, AMQPError>) { continuation.resume(returning: result) }
}
