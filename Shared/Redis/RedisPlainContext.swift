import CHiredis
import Foundation

/// One hiredis context with hiredis's own reply objects, for rare and small traffic: the sentinels,
/// and the subscriber that receives key invalidations (``RedisInvalidationListener``).
///
/// Blocking: every call runs on the owner's own thread (never the cooperative pool), one at a time.
final class RedisPlainContext {
    private let context: UnsafeMutablePointer<redisContext>
    /// What errors name: `sentinel 127.0.0.1:26379`, `redis 127.0.0.1:6379`.
    private let server: String
    /// Set once connected and authenticated: later failures are a lost connection, not a failed one.
    private var isConnected = false

    /// Connects to `endpoint` within `timeout` (also the bound of every later read and write) and
    /// authenticates with `password` (as `username` when given).
    init(_ endpoint: RedisEndpoint, username: String? = nil, password: String?, timeout: Duration, role: String) throws(RedisError) {
        server = "\(role) \(endpoint)"
        let (seconds, attoseconds) = timeout.components
        let tv = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        guard let context = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), tv) else {
            throw .connectionFailed(address: "\(role) \(endpoint)", code: REDIS_ERR_OOM, message: "could not allocate a context")
        }
        self.context = context
        guard context.pointee.err == 0, redisSetTimeout(context, tv) == REDIS_OK else { throw failure() }
        if let password {
            do {
                _ = try command(["AUTH"] + (username.map { [$0] } ?? []) + [password])
            } catch .server(let message) {
                throw .authenticationFailed(address: server, message: message)
            }
        }
        isConnected = true
    }

    deinit { redisFree(context) }

    /// The socket, for polling and `FIONREAD`.
    var fd: Int32 { context.pointee.fd }

    /// True while hiredis holds bytes it read but has not parsed into a reply yet.
    var hasBufferedInput: Bool {
        guard let reader = context.pointee.reader else { return false }
        return reader.pointee.pos < reader.pointee.len
    }

    /// Runs `arguments` and returns the reply's strings (a bulk or status reply as one, an array's
    /// elements, nothing for nil); an error reply is thrown as ``RedisError/server(_:)``.
    func command(_ arguments: [String]) throws(RedisError) -> [String] {
        guard let reply = send(arguments) else { throw failure() }
        defer { freeReplyObject(reply) }
        return try Self.strings(reply.assumingMemoryBound(to: redisReply.self))
    }

    /// `SUBSCRIBE channel`, checking the confirmation.
    func subscribe(_ channel: String) throws(RedisError) {
        let confirmation = try command(["SUBSCRIBE", channel])
        guard confirmation.first == "subscribe" else { throw .protocolError("SUBSCRIBE answered \(confirmation)") }
    }

    /// What a Pub/Sub message carries.
    enum Payload: Equatable {
        /// A published string.
        case text(String)
        /// An array of strings (an invalidation's keys).
        case list([String])
        /// Nil (an invalidation of every key: `FLUSHALL`, `FLUSHDB`).
        case null
    }

    /// The next message of a subscribed channel, or nil when none came within `waiting` (or the
    /// reply was not a message).
    func nextMessage(waiting: Duration) throws(RedisError) -> (channel: String, payload: Payload)? {
        if !hasBufferedInput {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let milliseconds = Int32(waiting.components.seconds * 1000 + waiting.components.attoseconds / 1_000_000_000_000_000)
            guard poll(&descriptor, 1, milliseconds) > 0 else { return nil }
        }
        var reply: UnsafeMutableRawPointer?
        guard redisGetReply(context, &reply) == REDIS_OK, let reply else { throw failure() }
        defer { freeReplyObject(reply) }
        let message = reply.assumingMemoryBound(to: redisReply.self)
        guard message.pointee.type == REDIS_REPLY_ARRAY, message.pointee.elements == 3,
            let kind = message.pointee.element[0], Self.text(kind) == "message",
            let channel = message.pointee.element[1], let payload = message.pointee.element[2]
        else { return nil }
        switch payload.pointee.type {
        case REDIS_REPLY_NIL: return (Self.text(channel), .null)
        case REDIS_REPLY_ARRAY: return (Self.text(channel), .list(try Self.strings(payload)))
        default: return (Self.text(channel), .text(Self.text(payload)))
        }
    }

    private func send(_ arguments: [String]) -> UnsafeMutableRawPointer? {
        let copies = arguments.map { strdup($0) }
        defer { copies.forEach { free($0) } }
        var argv = copies.map { UnsafePointer<CChar>($0) }
        let lengths = arguments.map { $0.utf8.count }
        return argv.withUnsafeMutableBufferPointer { argv in
            lengths.withUnsafeBufferPointer { lengths in
                redisCommandArgv(context, Int32(arguments.count), argv.baseAddress, lengths.baseAddress)
            }
        }
    }

    private func failure() -> RedisError {
        let message = withUnsafeBytes(of: context.pointee.errstr) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        return isConnected
            ? .connectionLost(address: server, code: context.pointee.err, message: message)
            : .connectionFailed(address: server, code: context.pointee.err, message: message)
    }

    private static func text(_ reply: UnsafeMutablePointer<redisReply>) -> String {
        String(decoding: UnsafeRawBufferPointer(start: reply.pointee.str, count: Int(reply.pointee.len)), as: UTF8.self)
    }

    private static func strings(_ reply: UnsafeMutablePointer<redisReply>) throws(RedisError) -> [String] {
        switch reply.pointee.type {
        case REDIS_REPLY_ERROR: throw .server(text(reply))
        case REDIS_REPLY_NIL: return []
        case REDIS_REPLY_INTEGER: return [String(reply.pointee.integer)]
        case REDIS_REPLY_ARRAY:
            return (0..<Int(reply.pointee.elements)).compactMap { index in
                guard let element = reply.pointee.element[index] else { return nil }
                switch element.pointee.type {
                case REDIS_REPLY_STRING, REDIS_REPLY_STATUS: return text(element)
                case REDIS_REPLY_INTEGER: return String(element.pointee.integer)
                default: return nil
                }
            }
        default: return [text(reply)]
        }
    }
}
