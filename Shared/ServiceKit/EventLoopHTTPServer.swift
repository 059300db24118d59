package import HummingbirdCore
package import Logging
package import NIOCore

extension HTTPServerBuilder {
    /// HTTP/1.1 whose connections run their handlers on the event loop that reads their requests
    /// (``EventLoopTaskExecutor``), instead of on Swift's global executor.
    ///
    /// A request that needs no other thread (an answer from memory) is then read, handled and
    /// written by one thread: no wake-up of a pool thread and back per request. Work that waits for
    /// another thread (a Redis or AMQP reply) resumes on the loop, like any job enqueued from outside it.
    /// Handlers must not block: every blocking C call already runs on its wrapper's own thread.
    package static func http1OnEventLoops(configuration: HTTP1Channel.Configuration = .init()) -> HTTPServerBuilder {
        .init { responder in EventLoopBoundChannel(inner: HTTP1Channel(responder: responder, configuration: configuration)) }
    }
}

/// A child channel whose handling task prefers the channel's event loop as its executor.
private struct EventLoopBoundChannel<Inner: ServerChildChannel>: ServerChildChannel {
    let inner: Inner

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Inner.Value> {
        inner.setup(channel: channel, logger: logger)
    }

    func handle(value: Inner.Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await inner.handle(value: value, logger: logger)
        }
    }
}

/// Runs Swift jobs on a NIO event loop: enqueued from the loop itself they run in its current
/// tick's task list (no wake-up); from another thread, like any `execute`.
package final class EventLoopTaskExecutor: TaskExecutor {
    private let eventLoop: any EventLoop

    package init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    package func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
