import CHiredis
import Foundation
import Logging
import PazConcurrency

/// One hiredis context, confined to its own ``DedicatedThread``: every hiredis call runs there.
///
/// The client runs batches on it (``send(_:)``, on ``thread``): every command of every request of
/// the batch is appended to hiredis's output buffer, written in one go, and the replies are read
/// straight into one ``RedisReplyBuffer`` per request by the reply functions installed on hiredis's
/// reader (no `redisReply` objects). The context is made lazily, and replaced on next use when hiredis flagged it
/// (EOF, I/O error, timeout) or when the server closed it while idle. A failed connection attempt is
/// reported at once: the backoff between attempts is the client's circuit breaker, which refuses
/// commands while it runs (nothing sleeps here).
///
/// `@unchecked Sendable`: `context`, `argv` and the memory `builder` points to are touched only by jobs
/// running on `thread` (one job at a time) and by `deinit` (when no job can run any more);
/// `replyFunctions` is written once in `init`.
final class RedisConnection: @unchecked Sendable {
    /// Where the client runs this connection's batches.
    let thread: DedicatedThread
    /// The connection's place in the pool.
    let index: Int
    private let configuration: RedisConfiguration
    private let logger: Logger
    private var context: UnsafeMutablePointer<redisContext>?
    private let builder: UnsafeMutablePointer<RedisReplyBuilder>
    private var argv = ArgvScratch()
    private let replyFunctions: UnsafeMutablePointer<redisReplyObjectFunctions>
    /// With Sentinel: where the primary is, and the generation ``context`` was made under.
    private let locator: RedisPrimaryLocator?
    private var contextGeneration: UInt64 = 0
    /// For a ``RedisTrackingCache``'s reads: where Redis sends the invalidations of the keys this
    /// connection reads, and the subscription generation ``context`` redirects to.
    private let tracking: RedisInvalidationListener?
    private var trackingGeneration: UInt64 = 0

    init(
        index: Int, configuration: RedisConfiguration, locator: RedisPrimaryLocator?, tracking: RedisInvalidationListener? = nil,
        logger: Logger
    ) {
        self.locator = locator
        self.tracking = tracking
        self.thread = DedicatedThread(name: "redis-\(index)", spinBeforeParking: .microseconds(50))
        self.index = index
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "redis.connection"] = "\(index)"
        self.logger = logger
        replyFunctions = .allocate(capacity: 1)
        replyFunctions.initialize(to: Self.readerFunctions)
        builder = .allocate(capacity: 1)
        builder.initialize(to: RedisReplyBuilder())
    }

    deinit {
        if let context { redisFree(context) }
        replyFunctions.deallocate()
        builder.deinitialize(count: 1)
        builder.deallocate()
        thread.shutdown()
    }

    /// Frees the context (on its thread) and ends the thread. Jobs already queued run first.
    func close() async {
        _ = try? await thread.run { [self] in
            if let context { redisFree(context) }
            context = nil
        }
        thread.shutdown()
    }

    // MARK: - On the connection's thread

    /// Sends every command of `requests` (each request's commands contiguous, requests in order) in one
    /// write, then reads every reply: one outcome per request. When the connection breaks, the requests
    /// whose replies were all read keep them; the others fail with the error, except idempotent ones,
    /// which are sent once more on a new connection (when ``RedisConfiguration/retryIdempotent`` is on).
    func send(_ requests: [RedisRequest]) -> [Result<RedisReplyBuffer, RedisError>] {
        precondition(thread.isCurrent, "a Redis connection is used off its thread")
        var outcomes = roundTrip(requests)
        if locator != nil { resendRefusedByReplica(requests, &outcomes) }
        guard configuration.retryIdempotent else { return outcomes }
        let resend = requests.indices.filter { index in
            guard requests[index].idempotent, case .failure(.connectionLost) = outcomes[index] else { return false }
            return true
        }
        guard !resend.isEmpty else { return outcomes }
        logger.info("Re-sending idempotent Redis commands after a dropped connection", metadata: [
            "redis.address": "\(configuration.address)", "redis.requests": "\(resend.count)",
            "redis.command": "\(Self.name(of: requests[resend[0]].commands.first))",
        ])
        for (index, outcome) in zip(resend, roundTrip(resend.map { requests[$0] })) { outcomes[index] = outcome }
        return outcomes
    }

    /// With Sentinel, a `READONLY` reply means the primary was demoted under this connection: a
    /// replica refuses every write before running it, so the requests it refused are sent once more,
    /// to the primary the sentinels name now.
    private func resendRefusedByReplica(_ requests: [RedisRequest], _ outcomes: inout [Result<RedisReplyBuffer, RedisError>]) {
        let refused = requests.indices.filter { index in
            guard case .success(let buffer) = outcomes[index] else { return false }
            return buffer.all.contains { $0.errorMessage?.hasPrefix("READONLY") == true }
        }
        guard let locator, !refused.isEmpty else { return }
        locator.invalidate(generation: contextGeneration, reason: "a write was refused with READONLY")
        for (index, outcome) in zip(refused, roundTrip(refused.map { requests[$0] })) { outcomes[index] = outcome }
    }

    private func roundTrip(_ requests: [RedisRequest]) -> [Result<RedisReplyBuffer, RedisError>] {
        let context: UnsafeMutablePointer<redisContext>
        do {
            context = try connectedContext()
        } catch {
            return requests.map { _ in .failure(error) }
        }
        var replies: [Result<RedisReplyBuffer, RedisError>] = []
        replies.reserveCapacity(requests.count)
        do throws(RedisError) {
            for request in requests {
                for command in request.commands { try append(command, to: context) }
            }
            try flush(context)
            Self.spinUntilReadable(fd: context.pointee.fd, for: Self.replySpin)
            for request in requests {
                for _ in request.commands { try readReply(from: context) }
                replies.append(.success(builder.pointee.finish()))
            }
        } catch {
            logger.warning("Redis connection dropped", metadata: [
                "redis.address": "\(configuration.address)", "redis.error": "\(error)",
                "redis.command": "\(Self.name(of: requests[replies.count].commands.first))",
                "redis.pipelineLength": "\(requests.reduce(0) { $0 + $1.commands.count })",
            ])
            redisFree(context)
            self.context = nil
            _ = builder.pointee.finish()
            replies += Array(repeating: .failure(error), count: requests.count - replies.count)
        }
        return replies
    }

    private func append(_ command: [RedisArgument], to context: UnsafeMutablePointer<redisContext>) throws(RedisError) {
        let status = argv.with(command) { argc, argv, lengths in redisAppendCommandArgv(context, argc, argv, lengths) }
        guard status == REDIS_OK else { throw failure(of: context) }
    }

    /// Writes hiredis's output buffer (every appended command) to the socket.
    private func flush(_ context: UnsafeMutablePointer<redisContext>) throws(RedisError) {
        var done: Int32 = 0
        while done == 0 {
            guard redisBufferWrite(context, &done) == REDIS_OK else { throw failure(of: context) }
        }
    }

    /// How long the thread looks for the first reply before it blocks in `read`: a loopback Redis
    /// answers within tens of microseconds, about what waking a blocked thread costs on a loaded VM.
    private static let replySpin = Duration.microseconds(50)

    /// Polls `fd` without blocking, yielding the CPU between polls, until it is readable or
    /// `duration` passes. Never fails: the blocking read that follows reports what went wrong.
    private static func spinUntilReadable(fd: Int32, for duration: Duration) {
        let deadline = ContinuousClock.now + duration
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while poll(&descriptor, 1, 0) == 0 && ContinuousClock.now < deadline {
            sched_yield()
        }
    }

    /// Reads one reply into ``builder`` (writing the output buffer first if it was not written yet).
    private func readReply(from context: UnsafeMutablePointer<redisContext>) throws(RedisError) {
        builder.pointee.beginReply()
        var reply: UnsafeMutableRawPointer?
        guard redisGetReply(context, &reply) == REDIS_OK, reply != nil else { throw failure(of: context) }
    }

    /// The live context, connecting (once, no retry) when there is none or it is dead.
    private func connectedContext() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        if let context {
            let isCurrent = (locator.map { $0.generation == contextGeneration } ?? true)
                && (tracking.map { $0.generation == trackingGeneration } ?? true)
            if isCurrent && context.pointee.err == 0 && Self.isIdleAndOpen(fd: context.pointee.fd) { return context }
            logger.notice(
                isCurrent ? "Redis connection closed while idle; reconnecting" : "Redis primary changed; reconnecting",
                metadata: ["redis.address": "\(configuration.address)"])
            redisFree(context)
            self.context = nil
        }
        do {
            let context = try connect()
            self.context = context
            return context
        } catch {
            logger.warning("Redis connection attempt failed", metadata: [
                "redis.address": "\(configuration.address)", "redis.error": "\(error)",
            ])
            throw error
        }
    }

    private func connect() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        let address = configuration.address
        var server = RedisEndpoint(host: configuration.host, port: configuration.port)
        if let locator { (server, contextGeneration) = try locator.primary() }
        guard let context = redisConnectWithTimeout(
            server.host, Int32(server.port), Self.cTimeval(configuration.connectTimeout)
        ) else {
            throw .connectionFailed(address: address, code: REDIS_ERR_OOM, message: "could not allocate a context")
        }
        do throws(RedisError) {
            guard context.pointee.err == 0 else {
                throw RedisError.connectionFailed(address: address, code: context.pointee.err, message: Self.message(of: context))
            }
            guard redisSetTimeout(context, Self.cTimeval(configuration.commandTimeout)) == REDIS_OK else {
                throw RedisError.connectionFailed(address: address, code: context.pointee.err, message: Self.message(of: context))
            }
            _ = redisEnableKeepAlive(context)
            context.pointee.reader.pointee.fn = replyFunctions
            context.pointee.reader.pointee.privdata = UnsafeMutableRawPointer(builder)
            if let password = configuration.password {
                let credentials = (configuration.username.map { [RedisArgument($0)] } ?? []) + [RedisArgument(password)]
                let reply = try setUp(context, ["AUTH"] + credentials)
                if let message = reply.errorMessage { throw RedisError.authenticationFailed(address: address, message: message) }
            }
            if configuration.database != 0 {
                let reply = try setUp(context, ["SELECT", RedisArgument(configuration.database)])
                if let message = reply.errorMessage {
                    throw RedisError.connectionFailed(address: address, code: REDIS_ERR_OTHER, message: "SELECT \(configuration.database): \(message)")
                }
            }
            if locator != nil { try checkPrimary(context, server) }
            if let tracking { try trackKeys(context, listener: tracking) }
        } catch {
            redisFree(context)
            locator?.invalidate(generation: contextGeneration, reason: "\(server): \(error)")
            throw Self.asConnectFailure(error, address: address)
        }
        logger.debug("Connected to Redis", metadata: [
            "redis.address": "\(address)", "redis.database": "\(configuration.database)",
        ])
        return context
    }

    /// Sentinel's client protocol: the server the sentinels named must say it is the primary (`ROLE`):
    /// during a failover they may still name a demoted one.
    private func checkPrimary(_ context: UnsafeMutablePointer<redisContext>, _ server: RedisEndpoint) throws(RedisError) {
        let role = try setUp(context, ["ROLE"]).elements?.first?.string
        guard role == "master" else {
            throw RedisError.connectionFailed(
                address: configuration.address, code: REDIS_ERR_OTHER,
                message: "\(server) is not the primary (ROLE: \(role ?? "no answer")); the sentinels are asked again")
        }
    }

    /// `CLIENT TRACKING ON REDIRECT`: Redis remembers every key this connection reads and tells the
    /// listener once when it changes.
    private func trackKeys(_ context: UnsafeMutablePointer<redisContext>, listener: RedisInvalidationListener) throws(RedisError) {
        guard let redirect = listener.redirect(waiting: configuration.connectTimeout) else {
            throw RedisError.connectionFailed(
                address: configuration.address, code: REDIS_ERR_OTHER,
                message: "no subscription to \(RedisInvalidationListener.channel) to send invalidations to")
        }
        let reply = try setUp(context, ["CLIENT", "TRACKING", "ON", "REDIRECT", RedisArgument(redirect.clientID)])
        if let message = reply.errorMessage {
            throw RedisError.connectionFailed(address: configuration.address, code: REDIS_ERR_OTHER, message: "CLIENT TRACKING: \(message)")
        }
        trackingGeneration = redirect.generation
    }

    /// Runs one command of the connection's set-up (`AUTH`, `SELECT`, `ROLE`, `CLIENT TRACKING`).
    private func setUp(_ context: UnsafeMutablePointer<redisContext>, _ command: [RedisArgument]) throws(RedisError) -> RedisReply {
        try append(command, to: context)
        do throws(RedisError) {
            try readReply(from: context)
        } catch {
            _ = builder.pointee.finish()
            throw error
        }
        return builder.pointee.finish().first
    }

    /// The error hiredis flagged on `context` after a failed call. Reads `errno` first, so call it
    /// right after the failing hiredis call.
    private func failure(of context: UnsafeMutablePointer<redisContext>) -> RedisError {
        let lastErrno = errno
        let code = context.pointee.err
        let message = Self.message(of: context)
        if code == REDIS_ERR_IO && (lastErrno == EAGAIN || lastErrno == EWOULDBLOCK) {
            return .timeout(address: configuration.address, after: configuration.commandTimeout)
        }
        if code == REDIS_ERR_PROTOCOL { return .protocolError("hiredis: \(message)") }
        return .connectionLost(address: configuration.address, code: code, message: message)
    }

    // MARK: - Helpers

    /// A failure while setting a connection up is a failed connection (nothing was sent).
    private static func asConnectFailure(_ error: RedisError, address: String) -> RedisError {
        switch error {
        case .connectionLost(_, let code, let message): .connectionFailed(address: address, code: code, message: message)
        case .timeout(_, let after): .connectionFailed(address: address, code: REDIS_ERR_IO, message: "no answer within \(after)")
        default: error
        }
    }

    /// An idle request/response connection has nothing to read; if it has (EOF, reset), the server
    /// closed it and it must not carry a command.
    private static func isIdleAndOpen(fd: Int32) -> Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) == 0
    }

    private static func message(of context: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: context.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    private static func cTimeval(_ duration: Duration) -> timeval {
        let (seconds, attoseconds) = duration.components
        return timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }

    /// The command name only (never arguments: they may hold secrets), for logs.
    private static func name(of command: [RedisArgument]?) -> String {
        command?.first.map { String(decoding: $0.bytes, as: UTF8.self) } ?? "-"
    }
}

extension RedisConnection {
    /// hiredis's reader hands every element it parses to these functions, which append it to the
    /// connection's ``RedisReplyBuilder`` (the reader's `privdata`). The "objects" they return are
    /// that builder's address: hiredis needs a non-null pointer and never looks into it.
    fileprivate static let readerFunctions = redisReplyObjectFunctions(
        createString: { task, start, count in
            guard let task else { return nil }
            let kind: RedisReply.Kind = switch task.pointee.type {
            case REDIS_REPLY_STATUS: .status
            case REDIS_REPLY_ERROR: .error
            default: .bulk
            }
            builder(of: task).pointee.addString(kind, start, count: count)
            return task.pointee.privdata
        },
        createArray: { task, count in
            guard let task else { return nil }
            builder(of: task).pointee.addArray(count: Int(count))
            return task.pointee.privdata
        },
        createInteger: { task, value in
            guard let task else { return nil }
            builder(of: task).pointee.addInteger(Int64(value))
            return task.pointee.privdata
        },
        createNil: { task in
            guard let task else { return nil }
            builder(of: task).pointee.addNull()
            return task.pointee.privdata
        },
        freeObject: { _ in }
    )

    private static func builder(of task: UnsafePointer<redisReadTask>) -> UnsafeMutablePointer<RedisReplyBuilder> {
        task.pointee.privdata.assumingMemoryBound(to: RedisReplyBuilder.self)
    }
}

/// The argv/argvlen arrays hiredis expects, pointing into one byte buffer; reused from command to
/// command so appending a command allocates nothing once the buffers are large enough.
private struct ArgvScratch {
    private var storage: [UInt8] = []
    private var offsets: [Int] = []
    private var lengths: [Int] = []
    private var pointers: [UnsafePointer<CChar>?] = []

    /// Runs `body` with `arguments` as argc, argv and argvlen.
    mutating func with<R>(
        _ arguments: [RedisArgument],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        storage.removeAll(keepingCapacity: true)
        offsets.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        pointers.removeAll(keepingCapacity: true)
        for argument in arguments {
            offsets.append(storage.count)
            lengths.append(argument.bytes.count)
            storage.append(contentsOf: argument.bytes)
        }
        storage.append(0)
        return storage.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { characters in
                let base = characters.baseAddress!
                for offset in offsets { pointers.append(base + offset) }
                return pointers.withUnsafeMutableBufferPointer { argv in
                    lengths.withUnsafeBufferPointer { argvlen in
                        body(Int32(arguments.count), argv.baseAddress!, argvlen.baseAddress!)
                    }
                }
            }
        }
    }
}
