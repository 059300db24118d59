import Foundation
import Synchronization

/// A thread owned by one blocking C handle (an AMQP connection, a Redis context, an SSH session).
///
/// Jobs run one at a time, in submission order, on this thread only — never on Swift's cooperative
/// pool. C libraries that are not thread-safe stay confined to it. Call ``shutdown()`` when the owner
/// is done; jobs submitted afterwards fail with ``DedicatedThreadError/shutDown``.
package final class DedicatedThread: Sendable {
    private let queue: JobQueue
    /// The thread's name, as shown by debuggers and `top -H`.
    package let name: String

    /// Starts a new thread called `name`.
    ///
    /// With `spinBeforeParking`, the thread keeps looking for the next job that long (yielding the
    /// CPU between looks) before it sleeps: a job that comes soon after the last one starts without
    /// the futex wake-up of a sleeping thread (tens of microseconds on a loaded VM), which dominates a
    /// request/response round trip on loopback. Only for threads that serve back-to-back requests.
    package init(name: String, spinBeforeParking: Duration = .zero) {
        self.name = name
        let queue = JobQueue(spin: spinBeforeParking)
        self.queue = queue
        let thread = Thread { queue.runUntilShutdown() }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit {
        queue.shutdown()
    }

    /// Runs `body` on this thread and returns its result to the awaiting task.
    package func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let accepted = queue.enqueue {
                continuation.resume(with: Result { try body() })
            }
            if !accepted {
                continuation.resume(throwing: DedicatedThreadError.shutDown(name))
            }
        }
    }

    /// Schedules `body` on this thread without waiting for it. Returns false after shutdown.
    @discardableResult
    package func execute(_ body: @escaping @Sendable () -> Void) -> Bool {
        queue.enqueue(body)
    }

    /// True when called from this thread (for preconditions in wrappers).
    package var isCurrent: Bool {
        queue.isCurrentThread
    }

    /// Lets the jobs already queued finish, then ends the thread. Idempotent.
    package func shutdown() {
        queue.shutdown()
    }
}

/// Errors of ``DedicatedThread``.
package enum DedicatedThreadError: Error, CustomStringConvertible {
    /// The thread was shut down before the job could run.
    case shutDown(String)

    package var description: String {
        switch self {
        case .shutDown(let name): "thread \(name) is shut down; the connection it served was closed"
        }
    }
}

/// The job list shared by the owner and its thread.
///
/// `@unchecked Sendable`: every stored property is read and written only while `condition` is locked.
private final class JobQueue: @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [@Sendable () -> Void] = []
    private var isShutdown = false
    private var threadID: pthread_t?
    /// How long the thread looks for work before sleeping; ``queued`` is what it looks at.
    private let spin: Duration
    /// Jobs enqueued so far: read without the lock while spinning.
    private let queued = Atomic<Int>(0)

    init(spin: Duration) {
        self.spin = spin
    }

    func enqueue(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !isShutdown else { return false }
        jobs.append(job)
        queued.add(1, ordering: .releasing)
        condition.signal()
        return true
    }

    func shutdown() {
        condition.lock()
        isShutdown = true
        condition.signal()
        condition.unlock()
    }

    var isCurrentThread: Bool {
        condition.lock()
        defer { condition.unlock() }
        guard let threadID else { return false }
        return pthread_equal(threadID, pthread_self()) != 0
    }

    func runUntilShutdown() {
        condition.lock()
        threadID = pthread_self()
        condition.unlock()
        var seen = 0
        while true {
            if spin > .zero { spinUntilQueued(after: seen) }
            condition.lock()
            while jobs.isEmpty && !isShutdown {
                condition.wait()
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            seen = queued.load(ordering: .relaxed)  // every job enqueued so far is in `batch`
            let done = isShutdown && batch.isEmpty
            condition.unlock()
            if done { return }
            for job in batch { job() }
        }
    }

    /// Yields the CPU until a job is enqueued after the first `seen`, or ``spin`` passes.
    private func spinUntilQueued(after seen: Int) {
        let deadline = ContinuousClock.now + spin
        while queued.load(ordering: .acquiring) == seen && ContinuousClock.now < deadline {
            sched_yield()
        }
    }
}
