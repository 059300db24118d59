import Foundation

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
    package init(name: String) {
        self.name = name
        let queue = JobQueue()
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

    func enqueue(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !isShutdown else { return false }
        jobs.append(job)
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
        while true {
            condition.lock()
            while jobs.isEmpty && !isShutdown {
                condition.wait()
            }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            let done = isShutdown && batch.isEmpty
            condition.unlock()
            if done { return }
            for job in batch { job() }
        }
    }
}
