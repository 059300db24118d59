import Foundation
import NIOCore
import NIOPosix

/// Why a QMP exchange failed.
package enum QMPError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Nothing listens on the socket (QEMU is not running, or has not opened it yet).
    case unreachable(socket: String, reason: String)
    /// QEMU answered something that is not QMP, or closed the connection early.
    case protocolViolation(socket: String, reason: String)
    /// QEMU refused the command (`{"error": {"class": …, "desc": …}}`).
    case commandFailed(command: String, errorClass: String, description: String)
    /// No answer in time.
    case timedOut(socket: String, command: String, after: Duration)

    package var description: String {
        switch self {
        case .unreachable(let socket, let reason):
            "QEMU's QMP socket \(socket) does not answer (\(reason)); the VM is not running"
        case .protocolViolation(let socket, let reason):
            "QEMU's QMP socket \(socket) answered unexpectedly: \(reason)"
        case .commandFailed(let command, let errorClass, let description):
            "QEMU refused \(command): \(errorClass): \(description)"
        case .timedOut(let socket, let command, let after):
            "QEMU did not answer \(command) on \(socket) within \(after)"
        }
    }
}

/// A QEMU Machine Protocol client: JSON lines over QEMU's unix socket (`-qmp unix:…,server=on,wait=off`).
///
/// Each call opens a connection, negotiates capabilities, runs one command and closes: QEMU serves
/// one QMP client at a time, so nothing holds the socket between calls and a restarted driver (or a
/// second one) attaches the same way. Asynchronous events QEMU interleaves are skipped. I/O runs on
/// SwiftNIO's event loops, never blocking the cooperative pool.
package struct QMPClient: Sendable {
    /// The socket's path.
    package let socketPath: String
    /// Bound on one whole exchange (connect, greeting, negotiation, command).
    package var timeout: Duration

    package init(socketPath: String, timeout: Duration = .seconds(10)) {
        self.socketPath = socketPath
        self.timeout = timeout
    }

    /// Runs `command` (with `arguments`) and returns its `return` value.
    @discardableResult
    package func execute(_ command: String, arguments: [String: any Sendable]? = nil) async throws(QMPError) -> Any? {
        let request = try Self.encode(command, arguments: arguments)
        let socketPath = socketPath
        let timeout = timeout
        do {
            return try await withThrowingTaskGroup(of: QMPReply.self) { group in
                group.addTask { try await Self.exchange(socketPath: socketPath, command: command, request: request) }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    throw QMPError.timedOut(socket: socketPath, command: command, after: timeout)
                }
                defer { group.cancelAll() }
                return try await group.next()!
            }.value
        } catch let error as QMPError {
            throw error
        } catch {
            throw .unreachable(socket: socketPath, reason: "\(error)")
        }
    }

    /// `query-status`: the run state QEMU reports (`running`, `paused`, `shutdown`, `prelaunch`…).
    package func runState() async throws(QMPError) -> String {
        let value = try await execute("query-status")
        guard let object = value as? [String: Any], let status = object["status"] as? String else {
            throw .protocolViolation(socket: socketPath, reason: "query-status returned no status")
        }
        return status
    }

    // MARK: Wire

    /// A reply's `return` value; `@unchecked` because it is plain JSON (strings, numbers, arrays,
    /// dictionaries) from JSONSerialization, read once by the caller.
    private struct QMPReply: @unchecked Sendable {
        let value: Any?
    }

    private static func encode(_ command: String, arguments: [String: any Sendable]?) throws(QMPError) -> ByteBuffer {
        var object: [String: Any] = ["execute": command]
        if let arguments { object["arguments"] = arguments }
        do {
            var data = try JSONSerialization.data(withJSONObject: object)
            data.append(UInt8(ascii: "\n"))
            return ByteBuffer(bytes: data)
        } catch {
            throw .protocolViolation(socket: "-", reason: "cannot encode \(command): \(error)")
        }
    }

    private static func exchange(socketPath: String, command: String, request: ByteBuffer) async throws -> QMPReply {
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connect(unixDomainSocketPath: socketPath) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(JSONLineDecoder()))
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
        } catch {
            throw QMPError.unreachable(socket: socketPath, reason: "\(error)")
        }
        return try await channel.executeThenClose { inbound, outbound in
            var lines = inbound.makeAsyncIterator()
            func nextMessage() async throws -> [String: Any] {
                guard var line = try await lines.next() else {
                    throw QMPError.protocolViolation(socket: socketPath, reason: "QEMU closed the connection during \(command)")
                }
                let bytes = line.readBytes(length: line.readableBytes) ?? []
                guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
                    throw QMPError.protocolViolation(socket: socketPath, reason: "not a JSON object: \(String(decoding: bytes.prefix(200), as: UTF8.self))")
                }
                return object
            }
            func reply() async throws -> Any? {
                while true {
                    let message = try await nextMessage()
                    if message["event"] != nil { continue }
                    if let error = message["error"] as? [String: Any] {
                        throw QMPError.commandFailed(
                            command: command, errorClass: error["class"] as? String ?? "GenericError",
                            description: error["desc"] as? String ?? "")
                    }
                    if message.keys.contains("return") { return message["return"] }
                    throw QMPError.protocolViolation(socket: socketPath, reason: "unexpected message \(message.keys.sorted())")
                }
            }
            guard try await nextMessage()["QMP"] != nil else {
                throw QMPError.protocolViolation(socket: socketPath, reason: "no QMP greeting")
            }
            try await outbound.write(ByteBuffer(string: "{\"execute\":\"qmp_capabilities\"}\n"))
            _ = try await reply()
            try await outbound.write(request)
            return QMPReply(value: try await reply())
        }
    }
}

/// Splits QMP's stream into lines (one JSON object each), without the newline.
private struct JSONLineDecoder: ByteToMessageDecoder {
    typealias InboundOut = ByteBuffer

    /// A single QMP message larger than this is refused (QEMU's replies are small).
    static let maximumLength = 1 << 20

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let newline = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > Self.maximumLength {
                throw QMPError.protocolViolation(socket: "-", reason: "a message longer than \(Self.maximumLength) bytes")
            }
            return .needMoreData
        }
        let length = newline - buffer.readerIndex
        let line = buffer.readSlice(length: length)!
        buffer.moveReaderIndex(forwardBy: 1)
        context.fireChannelRead(wrapInboundOut(line))
        return .continue
    }

    mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}
