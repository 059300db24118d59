import CRabbitMQ
import Foundation
import Logging
import Synchronization

/// What a connection is doing right now (for readiness probes).
package enum AMQPConnectionState: Sendable, Equatable {
    /// First connection attempt in progress.
    case connecting
    /// Connected; topology declared and consumers running.
    case connected
    /// Lost, or never established; retrying with backoff. `reason` is the last error.
    case reconnecting(reason: String)
    /// Closed by its owner.
    case closed
}

/// The connection state, written by the connection thread and read by anyone.
final class StateBox: Sendable {
    private let state = Mutex<AMQPConnectionState>(.connecting)
    private let generation = Atomic<UInt64>(0)
    private let blocked = Mutex<String?>(nil)

    var value: AMQPConnectionState { state.withLock { $0 } }

    func set(_ value: AMQPConnectionState) { state.withLock { $0 = value } }

    /// The connection generation deliveries are stamped with (0 before the first connection).
    var epoch: UInt64 { generation.load(ordering: .acquiring) }

    func set(epoch: UInt64) { generation.store(epoch, ordering: .releasing) }

    /// The broker's reason while it blocks publishing on the connection, else nil.
    var blockedReason: String? { blocked.withLock { $0 } }

    func setBlocked(_ reason: String?) { blocked.withLock { $0 = reason } }
}

/// Everything owned by the connection thread: the librabbitmq connection and all bookkeeping.
///
/// Not Sendable and never shared: it is created on the connection thread and only touched there, by
/// ``run()`` and by the jobs the mailbox delivers to it.
final class ConnectionCore {
    struct PendingConfirm {
        /// Who waits for the confirm.
        let completion: Completion<Void>
        let exchange: String
        let routingKey: String
        let deadline: ContinuousClock.Instant
    }

    struct Consumer {
        let queue: String
        let prefetch: UInt16
        let continuation: AsyncStream<AMQPDelivery>.Continuation
    }

    struct PendingCall {
        let completion: Completion<AMQPDelivery>
        let routingKey: String
        let timeout: Duration
        let deadline: ContinuousClock.Instant
    }

    /// A message whose header/body frames are still arriving.
    struct PartialContent {
        enum Kind {
            case delivery(consumerTag: String, deliveryTag: UInt64, redelivered: Bool, exchange: String, routingKey: String)
            case returned(replyCode: UInt16, replyText: String, exchange: String, routingKey: String)
        }

        let kind: Kind
        var properties = AMQPProperties(persistent: false)
        var expected = -1
        var body: [UInt8] = []
    }

    /// Channel for confirmed publishes (confirm mode) and consumers.
    static let dataChannel: amqp_channel_t = 1
    /// Channel for declarations; a 404/406 there closes only this channel.
    static let controlChannel: amqp_channel_t = 2
    /// Channel for RPC: requests, the direct reply-to consumer (which must share the requests'
    /// channel) and replies. Not in confirm mode, so the broker sends no basic.ack per request or
    /// reply (an unroutable request still comes back, named by its correlation id); an error there
    /// (a request to a missing exchange, a reply-to that names no caller) closes only this channel.
    static let rpcChannel: amqp_channel_t = 3
    static let replyQueue = "amq.rabbitmq.reply-to"
    /// Header with a mandatory message's confirm sequence number (see ``publish``).
    static let sequenceHeader = "x-paz-publish-sequence"
    static let replyConsumerTag = "paz-direct-reply-to"

    let configuration: AMQPConfiguration
    let logger: Logger
    private let mailbox: Mailbox
    private let state: StateBox

    private var connection: amqp_connection_state_t?
    /// Connection generation; deliveries of an older one carry stale tags.
    private(set) var epoch: UInt64 = 0
    private var controlChannelOpen = false
    private var rpcChannelOpen = false
    private var broken: AMQPError?
    private var lastError = "not connected yet"
    private var attempts = 0
    private var nextAttempt = ContinuousClock.now
    /// When the current connection was established.
    private var connectedAt = ContinuousClock.now
    /// Connections in a row that were lost within ``stableAfter`` of being established: each one
    /// doubles the wait before the next attempt, so a connection the broker closes right away
    /// (e.g. RabbitMQ's 541 on a consumer of a quorum queue whose leader has not started) is not
    /// reopened in a hot loop that redelivers everything in flight on it each time.
    private var shortLivedLosses = 0
    private static let stableAfter = Duration.seconds(5)
    private var isClosing = false
    private var closeWaiters: [Completion<Void>] = []
    /// Set while the broker blocks publishing (`connection.blocked`); cleared by `connection.unblocked`
    /// and by every new connection.
    private var blockedReason: String?

    private var nextSequence: UInt64 = 1
    private var oldestPending: UInt64 = 1
    private var pendingConfirms: [UInt64: PendingConfirm] = [:]
    /// Returned (unroutable) messages by confirm sequence, until their ack arrives.
    private var returns: [UInt64: (replyCode: UInt16, replyText: String)] = [:]
    private var content: PartialContent?

    private var topology: [TopologyItem] = []
    private var consumers: [String: Consumer] = [:]
    private var consumerCounter = 0
    private var wantsReplyConsumer = false
    private var replyConsumerActive = false
    private var calls: [String: PendingCall] = [:]
    /// The node of ``AMQPConfiguration/nodes`` connected to, or to try first.
    private var nodeIndex = 0

    init(configuration: AMQPConfiguration, logger: Logger, mailbox: Mailbox, state: StateBox) {
        self.configuration = configuration
        self.logger = logger
        self.mailbox = mailbox
        self.state = state
    }

    // MARK: - Loop

    /// The thread's body: runs jobs, reads frames, keeps heartbeats and deadlines, reconnects.
    func run() {
        var wake = Wake.everything
        while !isClosing {
            if wake.mailbox { for job in mailbox.take() { job(self) } }
            if let error = broken {
                broken = nil
                lose(error)
            }
            if isClosing { break }
            guard let connection else {
                if ContinuousClock.now >= nextAttempt {
                    connect()
                    wake = .everything
                } else {
                    wake = waitForEvents(socket: nil, timeout: nextAttempt - ContinuousClock.now)
                }
                continue
            }
            // Only jobs woke the loop and librabbitmq holds nothing unread: a read would find nothing.
            let onlyJobs = wake.mailbox && !wake.socket
            if !onlyJobs || holdsUnread(connection) {
                do {
                    try pump(connection)
                } catch {
                    lose(error)
                    wake = .everything
                    continue
                }
            }
            expireDeadlines()
            wake = waitForEvents(socket: amqp_get_sockfd(connection), timeout: nextWakeUp(connection))
        }
        shutdown()
    }

    /// What ended a wait: jobs in the mailbox (the eventfd), bytes on the socket; neither after a
    /// timeout (then the loop reads anyway, which also sends a due heartbeat).
    private struct Wake {
        var mailbox: Bool
        var socket: Bool
        static let everything = Wake(mailbox: true, socket: true)
    }

    /// Sleeps in poll() until jobs or bytes arrive or `timeout` passes.
    private func waitForEvents(socket: Int32?, timeout: Duration) -> Wake {
        var descriptors = [pollfd(fd: mailbox.eventFD, events: Int16(POLLIN), revents: 0)]
        if let socket { descriptors.append(pollfd(fd: socket, events: Int16(POLLIN), revents: 0)) }
        let ready = poll(&descriptors, nfds_t(descriptors.count), timeout.pollMilliseconds)
        guard ready > 0 else { return Wake(mailbox: ready < 0, socket: false) }
        return Wake(
            mailbox: descriptors[0].revents != 0,
            socket: descriptors.count > 1 && descriptors[1].revents != 0)
    }

    /// Whether librabbitmq holds bytes or frames it has read but not handed out yet (poll() cannot see them).
    private func holdsUnread(_ connection: amqp_connection_state_t) -> Bool {
        amqp_data_in_buffer(connection) != 0 || amqp_frames_enqueued(connection) != 0
    }

    /// How long poll() may sleep: at most half a heartbeat, and not past the next deadline.
    private func nextWakeUp(_ connection: amqp_connection_state_t) -> Duration {
        if holdsUnread(connection) { return .zero }
        let now = ContinuousClock.now
        var wake = min(configuration.heartbeat / 2, .milliseconds(500))
        if let first = pendingConfirms[oldestPending] { wake = min(wake, first.deadline - now) }
        for call in calls.values { wake = min(wake, call.deadline - now) }
        return max(wake, .zero)
    }

    /// Reads the frames one read of the socket brings, and those librabbitmq already holds
    /// (bounded, so jobs are not starved). A second read would only find an empty socket.
    private func pump(_ connection: amqp_connection_state_t) throws(AMQPError) {
        var frame = amqp_frame_t()
        for index in 0..<1024 {
            if index > 0 && !holdsUnread(connection) { break }
            var immediately = timeval(tv_sec: 0, tv_usec: 0)
            let status = amqp_simple_wait_frame_noblock(connection, &frame, &immediately)
            if status == AMQP_STATUS_TIMEOUT.rawValue { break }
            guard status == AMQP_STATUS_OK.rawValue else {
                throw .library(operation: "reading from the broker", status: status, message: libraryMessage(status))
            }
            try handle(frame)
        }
        amqp_maybe_release_buffers(connection)
    }

    private func expireDeadlines() {
        let now = ContinuousClock.now
        while oldestPending < nextSequence {
            guard let pending = pendingConfirms[oldestPending] else {
                oldestPending += 1
                continue
            }
            guard pending.deadline <= now else { break }
            pendingConfirms[oldestPending] = nil
            oldestPending += 1
            pending.completion.fail(.confirmTimeout(after: configuration.confirmTimeout))
        }
        for (id, call) in calls where call.deadline <= now {
            calls[id] = nil
            call.completion.fail(.rpcTimeout(routingKey: call.routingKey, after: call.timeout))
        }
    }

    // MARK: - Connecting

    private func connect() {
        do {
            try establish()
            attempts = 0
            connectedAt = ContinuousClock.now
            state.set(.connected)
            logger.info("AMQP connected", metadata: ["amqp.epoch": "\(epoch)", "amqp.node": "\(configuration.nodes[nodeIndex])"])
        } catch {
            lastError = error.description
            let delay = configuration.reconnectDelay(attempt: attempts)
            attempts += 1
            nextAttempt = ContinuousClock.now + delay
            state.set(.reconnecting(reason: lastError))
            logger.warning(
                "AMQP connect failed",
                metadata: ["error": "\(error)", "retry.in": "\(delay)", "attempt": "\(attempts)"])
        }
    }

    /// Connects to the first node of ``AMQPConfiguration/nodes`` that takes the connection, starting
    /// at ``nodeIndex``; throws the last node's error when none does.
    private func establish() throws(AMQPError) {
        let nodes = configuration.nodes
        var lastError: AMQPError?
        for offset in 0..<nodes.count {
            let index = (nodeIndex + offset) % nodes.count
            do {
                try establish(on: nodes[index])
                nodeIndex = index
                return
            } catch {
                if nodes.count > 1 {
                    logger.warning("AMQP node refused the connection", metadata: ["amqp.node": "\(nodes[index])", "error": "\(error)"])
                }
                lastError = error
            }
        }
        throw lastError!
    }

    private func establish(on node: AMQPNode) throws(AMQPError) {
        guard let connection = amqp_new_connection() else {
            throw .library(operation: "amqp_new_connection", status: -1, message: "out of memory")
        }
        guard let socket = amqp_tcp_socket_new(connection) else {
            amqp_destroy_connection(connection)
            throw .library(operation: "amqp_tcp_socket_new", status: -1, message: "out of memory")
        }
        var connectTimeout = configuration.connectTimeout.timeval
        let opened = amqp_socket_open_noblock(socket, node.host, Int32(node.port), &connectTimeout)
        guard opened == AMQP_STATUS_OK.rawValue else {
            amqp_destroy_connection(connection)
            throw .connectionFailed(endpoint: node.description, status: opened, message: libraryMessage(opened))
        }
        var operationTimeout = configuration.operationTimeout.timeval
        amqp_set_rpc_timeout(connection, &operationTimeout)
        amqp_set_handshake_timeout(connection, &operationTimeout)
        self.connection = connection
        do {
            try login(connection)
            amqp_channel_open(connection, Self.dataChannel)
            try check(amqp_get_rpc_reply(connection), "channel.open", channel: Self.dataChannel)
            amqp_confirm_select(connection, Self.dataChannel)
            try check(amqp_get_rpc_reply(connection), "confirm.select", channel: Self.dataChannel)
            controlChannelOpen = false
            rpcChannelOpen = false
            for item in topology {
                do {
                    try declareOnControlChannel(item)
                } catch .channelClosed(let operation, let code, let text) {
                    logger.error(
                        "AMQP re-declaration refused", metadata: ["operation": "\(operation)", "reply": "\(code) \(text)"])
                }
            }
            for (tag, consumer) in consumers.sorted(by: { $0.key < $1.key }) {
                try startConsumer(connection, tag: tag, queue: consumer.queue, prefetch: consumer.prefetch)
            }
            if wantsReplyConsumer { try prepareRPCChannel() }
        } catch {
            amqp_destroy_connection(connection)
            self.connection = nil
            broken = nil
            throw error
        }
        epoch += 1
        state.set(epoch: epoch)
        nextSequence = 1
        oldestPending = 1
        setBlocked(nil)
    }

    private func login(_ connection: amqp_connection_state_t) throws(AMQPError) {
        let arena = CArena()
        defer { arena.release() }
        // RabbitMQ sends these only to clients that announce the capability: `connection.blocked`
        // when a resource alarm blocks publishing, `basic.cancel` when a consumer's queue is deleted.
        var properties = arena.clientProperties(
            connectionName: configuration.connectionName, capabilities: ["connection.blocked", "consumer_cancel_notify"])
        let seconds = Int32(max(1, configuration.heartbeat.components.seconds))
        let reply = paz_amqp_login_plain(
            connection, configuration.virtualHost, 0, 131_072, seconds, &properties,
            configuration.user, configuration.password)
        do {
            try check(reply, "login", channel: 0)
        } catch .connectionClosed(let code, let text) where code == 403 || code == 530 {
            throw .accessRefused(user: configuration.user, virtualHost: configuration.virtualHost, replyText: text)
        }
    }

    /// Tears the connection down and fails everything waiting on it; schedules a reconnect.
    private func lose(_ error: AMQPError) {
        guard let connection else { return }
        amqp_destroy_connection(connection)
        self.connection = nil
        let reason = error.description
        lastError = reason
        logger.warning("AMQP connection lost; reconnecting", metadata: ["error": "\(reason)", "amqp.node": "\(configuration.nodes[nodeIndex])"])
        // The node may be gone: the next attempt starts with the next one.
        nodeIndex = (nodeIndex + 1) % configuration.nodes.count
        let pending = pendingConfirms
        pendingConfirms.removeAll()
        for entry in pending.values {
            entry.completion.fail(.connectionLost(operation: "publish confirm", reason: reason))
        }
        let waiting = calls
        calls.removeAll()
        for call in waiting.values { call.completion.fail(.connectionLost(operation: "RPC call", reason: reason)) }
        content = nil
        returns.removeAll()
        controlChannelOpen = false
        rpcChannelOpen = false
        replyConsumerActive = false
        setBlocked(nil)
        state.set(.reconnecting(reason: reason))
        shortLivedLosses = ContinuousClock.now - connectedAt < Self.stableAfter ? shortLivedLosses + 1 : 0
        let attempt = max(0, shortLivedLosses - 1)
        nextAttempt = ContinuousClock.now + configuration.reconnectDelay(attempt: attempt)
        attempts = attempt + 1
    }

    /// Closes the connection cleanly, fails whatever is still waiting, ends consumer streams.
    private func shutdown() {
        if let connection {
            amqp_connection_close(connection, AMQP_REPLY_SUCCESS)
            amqp_destroy_connection(connection)
            self.connection = nil
        }
        let pending = pendingConfirms
        pendingConfirms.removeAll()
        for entry in pending.values { entry.completion.fail(.closed) }
        for call in calls.values { call.completion.fail(.closed) }
        calls.removeAll()
        for consumer in consumers.values { consumer.continuation.finish() }
        consumers.removeAll()
        state.set(.closed)
        for job in mailbox.close() { job(self) }
        for waiter in closeWaiters { waiter.succeed(()) }
        logger.info("AMQP connection closed")
    }

    // MARK: - Frames

    private func handle(_ frame: amqp_frame_t) throws(AMQPError) {
        switch Int32(frame.frame_type) {
        case AMQP_FRAME_METHOD:
            try handleMethod(frame.payload.method, channel: frame.channel)
        case AMQP_FRAME_HEADER:
            guard var partial = content, let decoded = frame.payload.properties.decoded else { return }
            partial.properties = AMQPProperties(
                decoded: decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
            partial.expected = Int(frame.payload.properties.body_size)
            partial.body.reserveCapacity(partial.expected)
            content = partial
            if partial.expected == 0 { finishContent() }
        case AMQP_FRAME_BODY:
            guard content != nil else { return }
            content!.body.append(contentsOf: [UInt8](amqp: frame.payload.body_fragment))
            if content!.body.count >= content!.expected { finishContent() }
        default:
            break
        }
    }

    private func handleMethod(_ method: amqp_method_t, channel: amqp_channel_t) throws(AMQPError) {
        guard let decoded = method.decoded else { return }
        switch method.id {
        case PAZ_BASIC_ACK:
            let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            confirm(upTo: ack.delivery_tag, multiple: ack.multiple != 0, acked: true)
        case PAZ_BASIC_NACK:
            let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            confirm(upTo: nack.delivery_tag, multiple: nack.multiple != 0, acked: false)
        case PAZ_BASIC_DELIVER:
            let deliver = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            content = PartialContent(
                kind: .delivery(
                    consumerTag: String(amqp: deliver.consumer_tag), deliveryTag: deliver.delivery_tag,
                    redelivered: deliver.redelivered != 0, exchange: String(amqp: deliver.exchange),
                    routingKey: String(amqp: deliver.routing_key)))
        case PAZ_BASIC_RETURN:
            let returned = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            content = PartialContent(
                kind: .returned(
                    replyCode: returned.reply_code, replyText: String(amqp: returned.reply_text),
                    exchange: String(amqp: returned.exchange), routingKey: String(amqp: returned.routing_key)))
        case PAZ_BASIC_CANCEL:
            let cancel = decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            consumerCancelled(tag: String(amqp: cancel.consumer_tag))
        case PAZ_CHANNEL_CLOSE:
            let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            let text = String(amqp: close.reply_text)
            sendCloseOK(channel: channel)
            if channel == Self.rpcChannel {
                rpcChannelClosed(replyCode: close.reply_code, replyText: text)
            } else if channel == Self.controlChannel {
                controlChannelOpen = false
                logger.warning("AMQP control channel closed", metadata: ["reply": "\(close.reply_code) \(text)"])
            } else {
                throw .channelClosed(operation: "channel \(channel)", replyCode: close.reply_code, replyText: text)
            }
        case PAZ_CONNECTION_CLOSE:
            let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            sendCloseOK(channel: 0)
            throw .connectionClosed(replyCode: close.reply_code, replyText: String(amqp: close.reply_text))
        case PAZ_CONNECTION_BLOCKED:
            let blocked = decoded.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee
            block(reason: String(amqp: blocked.reason))
        case PAZ_CONNECTION_UNBLOCKED:
            setBlocked(nil)
            logger.info("AMQP connection unblocked: publishing resumes")
        default:
            logger.debug("AMQP ignored method", metadata: ["method": "\(method.id)", "channel": "\(channel)"])
        }
    }

    private func finishContent() {
        guard let partial = content, let connection else { return }
        content = nil
        switch partial.kind {
        case .delivery(let consumerTag, let deliveryTag, let redelivered, let exchange, let routingKey):
            let delivery = AMQPDelivery(
                body: partial.body, properties: partial.properties, redelivered: redelivered,
                deliveryTag: deliveryTag, exchange: exchange, routingKey: routingKey, consumerTag: consumerTag,
                epoch: epoch)
            if consumerTag == Self.replyConsumerTag {
                if let id = delivery.properties.correlationID, let call = calls.removeValue(forKey: id) {
                    call.completion.succeed(delivery)
                } else {
                    logger.debug("AMQP late or unknown RPC reply dropped")
                }
            } else if let consumer = consumers[consumerTag] {
                consumer.continuation.yield(delivery)
            } else {
                // The consumer was cancelled while this was in flight: give it back.
                amqp_basic_reject(connection, Self.dataChannel, deliveryTag, 1)
            }
        case .returned(let replyCode, let replyText, let exchange, let routingKey):
            if let id = partial.properties.correlationID, let call = calls.removeValue(forKey: id) {
                call.completion.fail(
                    .unroutable(exchange: exchange, routingKey: routingKey, replyCode: replyCode, replyText: replyText))
            } else if case .int(let sequence) = partial.properties.headers[Self.sequenceHeader], sequence > 0 {
                returns[UInt64(sequence)] = (replyCode, replyText)
            } else {
                logger.warning("AMQP returned message without its sequence header", metadata: ["reply": "\(replyCode) \(replyText)"])
            }
        }
    }

    /// The broker blocks publishing: new confirmed publishes fail at once, and those waiting for a
    /// confirm fail now instead of at their deadline (the broker reads nothing more until the alarm clears).
    private func block(reason: String) {
        let reason = reason.isEmpty ? "resource alarm" : reason
        setBlocked(reason)
        let waiting = pendingConfirms
        logger.warning(
            "AMQP connection blocked by the broker (resource alarm); publishes fail until it is unblocked",
            metadata: ["reason": "\(reason)", "failedInFlight": "\(waiting.count)"])
        for (sequence, entry) in waiting {
            pendingConfirms[sequence] = nil
            entry.completion.fail(.blocked(reason: reason))
        }
        while oldestPending < nextSequence && pendingConfirms[oldestPending] == nil { oldestPending += 1 }
    }

    private func setBlocked(_ reason: String?) {
        blockedReason = reason
        state.setBlocked(reason)
    }

    /// Applies basic.ack / basic.nack (multiple-aware). A basic.return precedes the ack of its
    /// message and names it by its sequence header.
    private func confirm(upTo tag: UInt64, multiple: Bool, acked: Bool) {
        func outcome(_ sequence: UInt64, _ pending: PendingConfirm) -> Result<Void, AMQPError> {
            let returned = returns.removeValue(forKey: sequence)
            if !acked { return .failure(.nacked(exchange: pending.exchange, routingKey: pending.routingKey)) }
            if let returned {
                return .failure(
                    .unroutable(
                        exchange: pending.exchange, routingKey: pending.routingKey,
                        replyCode: returned.replyCode, replyText: returned.replyText))
            }
            return .success(())
        }
        if multiple {
            var sequence = oldestPending
            while sequence <= tag {
                if let pending = pendingConfirms.removeValue(forKey: sequence) {
                    pending.completion.resume(outcome(sequence, pending))
                }
                sequence += 1
            }
        } else if let pending = pendingConfirms.removeValue(forKey: tag) {
            pending.completion.resume(outcome(tag, pending))
        }
        while oldestPending < nextSequence && pendingConfirms[oldestPending] == nil { oldestPending += 1 }
    }

    private func sendCloseOK(channel: amqp_channel_t) {
        guard let connection else { return }
        if channel == 0 {
            var ok = amqp_connection_close_ok_t(dummy: 0)
            amqp_send_method(connection, 0, PAZ_CONNECTION_CLOSE_OK, &ok)
        } else {
            var ok = amqp_channel_close_ok_t(dummy: 0)
            amqp_send_method(connection, channel, PAZ_CHANNEL_CLOSE_OK, &ok)
        }
    }

    /// Turns a synchronous reply into success or a typed error (answering the broker's close if needed).
    private func check(_ reply: amqp_rpc_reply_t, _ operation: String, channel: amqp_channel_t) throws(AMQPError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw .library(operation: operation, status: reply.library_error, message: libraryMessage(reply.library_error))
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == PAZ_CONNECTION_CLOSE, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                sendCloseOK(channel: 0)
                throw .connectionClosed(replyCode: close.reply_code, replyText: String(amqp: close.reply_text))
            }
            if reply.reply.id == PAZ_CHANNEL_CLOSE, let decoded = reply.reply.decoded {
                let close = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                sendCloseOK(channel: channel)
                throw .channelClosed(operation: operation, replyCode: close.reply_code, replyText: String(amqp: close.reply_text))
            }
            throw .library(operation: operation, status: -1, message: "unexpected broker method \(reply.reply.id)")
        default:
            throw .library(operation: operation, status: -1, message: "no reply from librabbitmq")
        }
    }

    // MARK: - Operations (called by jobs, on this thread)

    /// The live connection, or why there is none.
    private func live() throws(AMQPError) -> amqp_connection_state_t {
        if isClosing { throw .closed }
        guard let connection else { throw .notConnected(reason: lastError) }
        return connection
    }

    /// Runs a synchronous operation on the data channel; any failure there means the channel is gone.
    private func onDataChannel<T>(_ body: (amqp_connection_state_t) throws(AMQPError) -> T) throws(AMQPError) -> T {
        let connection = try live()
        do {
            return try body(connection)
        } catch {
            broken = error
            throw error
        }
    }

    /// Runs a synchronous operation on the control channel, reopening it if an earlier error closed it.
    private func onControlChannel<T>(_ body: (amqp_connection_state_t) throws(AMQPError) -> T) throws(AMQPError) -> T {
        let connection = try live()
        do {
            if !controlChannelOpen {
                amqp_channel_open(connection, Self.controlChannel)
                try check(amqp_get_rpc_reply(connection), "channel.open", channel: Self.controlChannel)
                controlChannelOpen = true
            }
            return try body(connection)
        } catch .channelClosed(let operation, let code, let text) {
            controlChannelOpen = false
            throw .channelClosed(operation: operation, replyCode: code, replyText: text)
        } catch {
            broken = error
            throw error
        }
    }

    private func declareOnControlChannel(_ item: TopologyItem) throws(AMQPError) {
        try onControlChannel { connection throws(AMQPError) in
            let arena = CArena()
            defer { arena.release() }
            switch item {
            case .exchange(let exchange):
                amqp_exchange_declare(
                    connection, Self.controlChannel, arena.bytes(exchange.name), arena.bytes(exchange.kind.rawValue),
                    0, exchange.durable ? 1 : 0, 0, 0, amqp_table_t(num_entries: 0, entries: nil))
                try check(amqp_get_rpc_reply(connection), "exchange.declare \(exchange.name)", channel: Self.controlChannel)
            case .queue(let queue):
                amqp_queue_declare(
                    connection, Self.controlChannel, arena.bytes(queue.name), 0, queue.durable ? 1 : 0,
                    queue.exclusive ? 1 : 0, queue.autoDelete ? 1 : 0, arena.table(queue.arguments))
                try check(amqp_get_rpc_reply(connection), "queue.declare \(queue.name)", channel: Self.controlChannel)
            case .binding(let binding):
                amqp_queue_bind(
                    connection, Self.controlChannel, arena.bytes(binding.queue), arena.bytes(binding.exchange),
                    arena.bytes(binding.routingKey), amqp_table_t(num_entries: 0, entries: nil))
                try check(
                    amqp_get_rpc_reply(connection), "queue.bind \(binding.queue)→\(binding.exchange)",
                    channel: Self.controlChannel)
            }
        }
    }

    /// Declares `item` now and remembers it for every later reconnect.
    func declare(_ item: TopologyItem) throws(AMQPError) {
        try declareOnControlChannel(item)
        if !topology.contains(item) { topology.append(item) }
    }

    /// Deletes a queue and forgets it (and its bindings). Returns the messages it held.
    func deleteQueue(_ name: String) throws(AMQPError) -> Int {
        let count = try onControlChannel { connection throws(AMQPError) in
            let arena = CArena()
            defer { arena.release() }
            let ok = amqp_queue_delete(connection, Self.controlChannel, arena.bytes(name), 0, 0)
            try check(amqp_get_rpc_reply(connection), "queue.delete \(name)", channel: Self.controlChannel)
            return Int(ok?.pointee.message_count ?? 0)
        }
        topology.removeAll { item in
            switch item {
            case .queue(let queue): queue.name == name
            case .binding(let binding): binding.queue == name
            case .exchange: false
            }
        }
        return count
    }

    /// Passive declare: the queue's counts, or nil when it does not exist.
    func queueStatus(_ name: String) throws(AMQPError) -> AMQPQueueStatus? {
        do {
            return try onControlChannel { connection throws(AMQPError) in
                let arena = CArena()
                defer { arena.release() }
                let ok = amqp_queue_declare(
                    connection, Self.controlChannel, arena.bytes(name), 1, 0, 0, 0,
                    amqp_table_t(num_entries: 0, entries: nil))
                try check(amqp_get_rpc_reply(connection), "queue.declare (passive) \(name)", channel: Self.controlChannel)
                return AMQPQueueStatus(
                    messageCount: Int(ok?.pointee.message_count ?? 0), consumerCount: Int(ok?.pointee.consumer_count ?? 0))
            }
        } catch .channelClosed(_, let code, _) where code == 404 {
            return nil
        }
    }

    /// Writes one basic.publish on the confirm channel and records who waits for its confirm.
    func publish(
        exchange: String, routingKey: String, body: [UInt8], properties: AMQPProperties, mandatory: Bool,
        completion: Completion<Void>
    ) throws(AMQPError) {
        let connection = try live()
        if let blockedReason { throw .blocked(reason: blockedReason) }
        var stamped = properties
        // Its confirm sequence number: a basic.return names its message only by its content, and
        // one basic.ack may confirm several messages (`multiple`), so this tells which one came back.
        if mandatory { stamped.headers[Self.sequenceHeader] = .int(Int64(nextSequence)) }
        try write(
            connection, channel: Self.dataChannel, exchange: exchange, routingKey: routingKey, body: body,
            properties: stamped, mandatory: mandatory)
        pendingConfirms[nextSequence] = PendingConfirm(
            completion: completion, exchange: exchange, routingKey: routingKey,
            deadline: ContinuousClock.now + configuration.confirmTimeout)
        nextSequence += 1
    }

    /// Writes one basic.publish on the RPC channel (opened on first use and again after the broker
    /// closed it); a failure is logged, as nobody waits for it.
    func publishUnconfirmed(exchange: String, routingKey: String, body: [UInt8], properties: AMQPProperties) {
        do throws(AMQPError) {
            let connection = try live()
            if !rpcChannelOpen { try prepareRPCChannel() }
            try write(
                connection, channel: Self.rpcChannel, exchange: exchange, routingKey: routingKey, body: body,
                properties: properties, mandatory: false)
        } catch {
            logger.warning("AMQP unconfirmed publish failed", metadata: ["error": "\(error)"])
        }
    }

    /// One basic.publish frame set, stamped with the sender's identity (verified by RabbitMQ against
    /// this connection's user; a republished delivery carries its original sender's, which RabbitMQ
    /// would refuse). A failed write breaks the connection.
    private func write(
        _ connection: amqp_connection_state_t, channel: amqp_channel_t, exchange: String, routingKey: String,
        body: [UInt8], properties: AMQPProperties, mandatory: Bool
    ) throws(AMQPError) {
        let arena = CArena()
        defer { arena.release() }
        var stamped = properties
        stamped.userID = configuration.user
        var cProperties = arena.properties(stamped)
        let status = amqp_basic_publish(
            connection, channel, arena.bytes(exchange), arena.bytes(routingKey), mandatory ? 1 : 0, 0,
            &cProperties, arena.bytes(body))
        guard status == AMQP_STATUS_OK.rawValue else {
            let error = AMQPError.library(operation: "basic.publish", status: status, message: libraryMessage(status))
            broken = error
            throw error
        }
    }

    private func startConsumer(_ connection: amqp_connection_state_t, tag: String, queue: String, prefetch: UInt16)
        throws(AMQPError)
    {
        let arena = CArena()
        defer { arena.release() }
        amqp_basic_qos(connection, Self.dataChannel, 0, prefetch, 0)
        try check(amqp_get_rpc_reply(connection), "basic.qos", channel: Self.dataChannel)
        amqp_basic_consume(
            connection, Self.dataChannel, arena.bytes(queue), arena.bytes(tag), 0, 0, 0,
            amqp_table_t(num_entries: 0, entries: nil))
        try check(amqp_get_rpc_reply(connection), "basic.consume \(queue)", channel: Self.dataChannel)
    }

    /// Opens the RPC channel unless it is open and, once a call was made on this connection,
    /// starts its direct reply-to consumer unless it runs.
    private func prepareRPCChannel() throws(AMQPError) {
        try onDataChannel { connection throws(AMQPError) in
            if !rpcChannelOpen {
                amqp_channel_open(connection, Self.rpcChannel)
                try check(amqp_get_rpc_reply(connection), "channel.open", channel: Self.rpcChannel)
                rpcChannelOpen = true
            }
            guard wantsReplyConsumer && !replyConsumerActive else { return }
            let arena = CArena()
            defer { arena.release() }
            amqp_basic_consume(
                connection, Self.rpcChannel, arena.bytes(Self.replyQueue), arena.bytes(Self.replyConsumerTag), 0, 1, 0,
                amqp_table_t(num_entries: 0, entries: nil))
            try check(amqp_get_rpc_reply(connection), "basic.consume \(Self.replyQueue)", channel: Self.rpcChannel)
            replyConsumerActive = true
        }
    }

    /// The broker closed the RPC channel: the calls waiting on its reply consumer fail now, and the
    /// channel opens again with the next call or reply.
    private func rpcChannelClosed(replyCode: UInt16, replyText: String) {
        rpcChannelOpen = false
        replyConsumerActive = false
        logger.warning("AMQP RPC channel closed by the broker; it opens again with the next call", metadata: [
            "reply": "\(replyCode) \(replyText)", "callsFailed": "\(calls.count)",
        ])
        let waiting = calls
        calls.removeAll()
        for call in waiting.values {
            call.completion.fail(.channelClosed(operation: "RPC request", replyCode: replyCode, replyText: replyText))
        }
    }

    /// Starts a manual-ack consumer; it is restarted after every reconnect until cancelled.
    func consume(queue: String, prefetch: UInt16, continuation: AsyncStream<AMQPDelivery>.Continuation) throws(AMQPError)
        -> String
    {
        consumerCounter += 1
        let tag = "paz-\(consumerCounter)-\(queue)"
        try onDataChannel { connection throws(AMQPError) in
            try startConsumer(connection, tag: tag, queue: queue, prefetch: prefetch)
        }
        consumers[tag] = Consumer(queue: queue, prefetch: prefetch, continuation: continuation)
        return tag
    }

    /// Stops a consumer (its unacked deliveries go back to the queue when the broker sees the cancel).
    func cancel(consumerTag: String) {
        guard let consumer = consumers.removeValue(forKey: consumerTag) else { return }
        consumer.continuation.finish()
        guard connection != nil else { return }
        let arena = CArena()
        defer { arena.release() }
        _ = try? onDataChannel { connection throws(AMQPError) in
            amqp_basic_cancel(connection, Self.dataChannel, arena.bytes(consumerTag))
            try check(amqp_get_rpc_reply(connection), "basic.cancel", channel: Self.dataChannel)
        }
    }

    /// The broker cancelled a consumer: its queue was deleted — by someone, or because it was a
    /// transient queue on a RabbitMQ node that went down. A queue this connection declared is
    /// declared again (on the node of this connection) and consumed again under the same tag; the
    /// stream of any other consumer ends.
    private func consumerCancelled(tag: String) {
        guard let consumer = consumers[tag] else { return }
        let ours = topology.contains { if case .queue(let queue) = $0 { queue.name == consumer.queue } else { false } }
        guard ours else {
            logger.warning("AMQP consumer cancelled by the broker (its queue was deleted)", metadata: ["consumer": "\(tag)"])
            consumers[tag] = nil
            consumer.continuation.finish()
            return
        }
        logger.warning("AMQP queue deleted under its consumer; declaring it again and consuming", metadata: [
            "consumer": "\(tag)", "amqp.queue": "\(consumer.queue)",
        ])
        // After the frame at hand: declaring waits for replies, which the frame loop must not do mid-frame.
        let epoch = epoch
        _ = mailbox.post { core in core.consumeAgain(tag: tag, epoch: epoch) }
    }

    /// Declares a cancelled consumer's queue and its bindings again and restarts the consumer; a
    /// refusal breaks the connection, whose reconnect declares everything and restarts every consumer
    /// (then, with a new `epoch`, there is nothing left to do here).
    private func consumeAgain(tag: String, epoch cancelledIn: UInt64) {
        guard let consumer = consumers[tag], connection != nil, epoch == cancelledIn else { return }
        do throws(AMQPError) {
            for item in topology {
                switch item {
                case .queue(let queue) where queue.name == consumer.queue: try declareOnControlChannel(item)
                case .binding(let binding) where binding.queue == consumer.queue: try declareOnControlChannel(item)
                default: continue
                }
            }
            try onDataChannel { connection throws(AMQPError) in
                try startConsumer(connection, tag: tag, queue: consumer.queue, prefetch: consumer.prefetch)
            }
        } catch {
            logger.warning("AMQP could not consume the declared-again queue; reconnecting", metadata: ["error": "\(error)"])
            if broken == nil { broken = error }
        }
    }

    /// What to do with a delivery.
    enum Settlement {
        case ack
        case nack(requeue: Bool)
        case reject(requeue: Bool)
    }

    /// Acks a delivery for a caller that does not wait (see ``AMQPConnection/acknowledge(_:)``).
    func acknowledge(_ delivery: AMQPDelivery) {
        do throws(AMQPError) {
            try settle(delivery, .ack)
        } catch {
            logger.warning("AMQP could not acknowledge a delivery; it will be redelivered", metadata: ["error": "\(error)"])
        }
    }

    /// Acks/nacks/rejects a delivery of the current connection; a stale tag is refused, never sent.
    func settle(_ delivery: AMQPDelivery, _ settlement: Settlement) throws(AMQPError) {
        let connection = try live()
        guard delivery.epoch == epoch else { throw .staleDelivery(deliveryTag: delivery.deliveryTag) }
        let status: Int32
        switch settlement {
        case .ack: status = amqp_basic_ack(connection, Self.dataChannel, delivery.deliveryTag, 0)
        case .nack(let requeue): status = amqp_basic_nack(connection, Self.dataChannel, delivery.deliveryTag, 0, requeue ? 1 : 0)
        case .reject(let requeue): status = amqp_basic_reject(connection, Self.dataChannel, delivery.deliveryTag, requeue ? 1 : 0)
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            let error = AMQPError.library(operation: "basic.ack/nack", status: status, message: libraryMessage(status))
            broken = error
            throw error
        }
    }

    /// Publishes a request with direct reply-to and waits (via the loop) for the correlated reply.
    func call(
        id: String, exchange: String, routingKey: String, body: [UInt8], properties: AMQPProperties, timeout: Duration,
        completion: Completion<AMQPDelivery>
    ) throws(AMQPError) {
        let connection = try live()
        if !replyConsumerActive {
            wantsReplyConsumer = true
            try prepareRPCChannel()
        }
        var request = properties
        request.correlationID = id
        request.replyTo = Self.replyQueue
        request.persistent = false
        try write(
            connection, channel: Self.rpcChannel, exchange: exchange, routingKey: routingKey, body: body,
            properties: request, mandatory: true)
        calls[id] = PendingCall(
            completion: completion, routingKey: routingKey, timeout: timeout, deadline: ContinuousClock.now + timeout)
    }

    /// Fails the waiting call `id` (if it is still waiting) with ``AMQPError/cancelled``; a late reply is dropped.
    func cancelCall(_ id: String) {
        calls.removeValue(forKey: id)?.completion.fail(.cancelled)
    }

    /// Starts a clean shutdown after the current jobs; `completion` resumes when it is done.
    func close(_ completion: Completion<Void>?) {
        isClosing = true
        if let completion { closeWaiters.append(completion) }
    }
}
