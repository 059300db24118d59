import CHiredis
import Foundation
import Logging
import PazConcurrency

/// One hiredis context, confined to its own ``DedicatedThread``: every hiredis call runs there.
///
/// The context is made lazily, and replaced on next use when hiredis flagged it (EOF, I/O error,
/// timeout) or when the server closed it while idle. A failed connection attempt is thrown at once:
/// the backoff between attempts is the client's circuit breaker, which refuses commands while it runs
/// (nothing sleeps here).
///
/// `@unchecked Sendable`: `context` is touched only by jobs running on `thread` (one job at a time)
/// and by `deinit` (when no job can run any more).
final class RedisConnection: @unchecked Sendable {
    private let thread: DedicatedThread
    private let configuration: RedisConfiguration
    private let logger: Logger
    private var context: UnsafeMutablePointer<redisContext>?

    init(index: Int, configuration: RedisConfiguration, logger: Logger) {
        self.thread = DedicatedThread(name: "redis-\(index)")
        self.configuration = configuration
        var logger = logger
        logger[metadataKey: "redis.connection"] = "\(index)"
        self.logger = logger
    }

    deinit {
        if let context { redisFree(context) }
        thread.shutdown()
    }

    /// Sends `commands` in one write and reads one reply per command, in order (one round trip).
    /// Error replies are values; a broken connection throws.
    func execute(_ commands: [[RedisArgument]]) async throws(RedisError) -> [RedisValue] {
        let outcome: Result<[RedisValue], RedisError>
        do {
            outcome = try await thread.run { [self] in Result { () throws(RedisError) in try executeOnThread(commands) } }
        } catch {
            throw .closed
        }
        return try outcome.get()
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

    private func executeOnThread(_ commands: [[RedisArgument]]) throws(RedisError) -> [RedisValue] {
        let context = try connectedContext()
        do {
            return try roundTrip(context, commands)
        } catch {
            logger.warning("Redis connection dropped", metadata: [
                "redis.address": "\(configuration.address)", "redis.error": "\(error)",
                "redis.command": "\(Self.name(of: commands.first))", "redis.pipelineLength": "\(commands.count)",
            ])
            redisFree(context)
            self.context = nil
            throw error
        }
    }

    private func roundTrip(
        _ context: UnsafeMutablePointer<redisContext>, _ commands: [[RedisArgument]]
    ) throws(RedisError) -> [RedisValue] {
        for command in commands {
            let status = Self.withArgv(command) { argc, argv, lengths in
                redisAppendCommandArgv(context, argc, argv, lengths)
            }
            guard status == REDIS_OK else { throw failure(of: context) }
        }
        var replies: [RedisValue] = []
        replies.reserveCapacity(commands.count)
        for _ in commands {
            var raw: UnsafeMutableRawPointer?
            guard redisGetReply(context, &raw) == REDIS_OK, let raw else { throw failure(of: context) }
            replies.append(RedisValue(reply: raw.assumingMemoryBound(to: redisReply.self)))
            freeReplyObject(raw)
        }
        return replies
    }

    /// The live context, connecting (once, no retry) when there is none or it is dead.
    private func connectedContext() throws(RedisError) -> UnsafeMutablePointer<redisContext> {
        if let context {
            if context.pointee.err == 0 && Self.isIdleAndOpen(fd: context.pointee.fd) { return context }
            logger.notice("Redis connection closed while idle; reconnecting", metadata: [
                "redis.address": "\(configuration.address)",
            ])
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
        guard let context = redisConnectWithTimeout(
            configuration.host, Int32(configuration.port), Self.cTimeval(configuration.connectTimeout)
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
            if let password = configuration.password {
                let credentials = (configuration.username.map { [RedisArgument($0)] } ?? []) + [RedisArgument(password)]
                let reply = try roundTrip(context, [["AUTH"] + credentials])[0]
                if let message = reply.errorMessage { throw RedisError.authenticationFailed(address: address, message: message) }
            }
            if configuration.database != 0 {
                let reply = try roundTrip(context, [["SELECT", RedisArgument(configuration.database)]])[0]
                if let message = reply.errorMessage {
                    throw RedisError.connectionFailed(address: address, code: REDIS_ERR_OTHER, message: "SELECT \(configuration.database): \(message)")
                }
            }
        } catch {
            redisFree(context)
            throw Self.asConnectFailure(error, address: address)
        }
        logger.debug("Connected to Redis", metadata: [
            "redis.address": "\(address)", "redis.database": "\(configuration.database)",
        ])
        return context
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

    /// Runs `body` with the argv/argvlen arrays hiredis expects, pointing into one buffer.
    private static func withArgv<R>(
        _ arguments: [RedisArgument],
        _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> R
    ) -> R {
        var storage: [UInt8] = []
        storage.reserveCapacity(arguments.reduce(1) { $0 + $1.bytes.count })
        var offsets: [Int] = []
        var lengths: [Int] = []
        offsets.reserveCapacity(arguments.count)
        lengths.reserveCapacity(arguments.count)
        for argument in arguments {
            offsets.append(storage.count)
            lengths.append(argument.bytes.count)
            storage.append(contentsOf: argument.bytes)
        }
        storage.append(0)
        return storage.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { characters in
                let base = characters.baseAddress!
                var pointers: [UnsafePointer<CChar>?] = offsets.map { base + $0 }
                return pointers.withUnsafeMutableBufferPointer { argv in
                    lengths.withUnsafeBufferPointer { argvlen in
                        body(Int32(arguments.count), argv.baseAddress!, argvlen.baseAddress!)
                    }
                }
            }
        }
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

extension RedisValue {
    /// Copies a hiredis reply tree (the caller frees it).
    fileprivate init(reply: UnsafeMutablePointer<redisReply>) {
        let reply = reply.pointee
        func text() -> String {
            guard let str = reply.str else { return "" }
            return String(decoding: UnsafeRawBufferPointer(start: str, count: reply.len), as: UTF8.self)
        }
        switch reply.type {
        case REDIS_REPLY_STRING:
            if let str = reply.str {
                self = .bulk(Array(UnsafeRawBufferPointer(start: str, count: reply.len)))
            } else {
                self = .bulk([])
            }
        case REDIS_REPLY_INTEGER: self = .integer(reply.integer)
        case REDIS_REPLY_ARRAY:
            var elements: [RedisValue] = []
            elements.reserveCapacity(reply.elements)
            for index in 0..<reply.elements {
                if let element = reply.element[index] { elements.append(RedisValue(reply: element)) }
            }
            self = .array(elements)
        case REDIS_REPLY_STATUS: self = .status(text())
        case REDIS_REPLY_ERROR: self = .error(text())
        default: self = .null
        }
    }
}
