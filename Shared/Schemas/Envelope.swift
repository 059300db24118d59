package import Foundation

/// Whether a message asks for work, answers a command, or reports a fact.
package enum MessageCategory: String, Sendable, Hashable, Codable {
    case command
    case reply
    case event
}

/// Every message kind of schema 1.x; the `kind` field on the wire. Kinds are unique across
/// categories: replies start with `reply.`, events with `event.`.
package enum MessageKind: String, Sendable, Hashable, Codable, CaseIterable {
    // Commands (gateway → driver, or → SSH broker).
    case machineCreate = "machine.create"
    case machinePrecheck = "machine.precheck"
    case machineRemove = "machine.remove"
    case machineStart = "machine.start"
    case machineStop = "machine.stop"
    case machineRestart = "machine.restart"
    case machineKill = "machine.kill"
    case machineProbe = "machine.probe"
    case machineStates = "machine.states"
    case clusterRemove = "cluster.remove"
    case catalogImages = "catalog.images"
    case catalogSizes = "catalog.sizes"
    case catalogLocations = "catalog.locations"
    case sshHostIdentity = "ssh.host-identity"
    case sshUserCredentials = "ssh.user-credentials"

    // Replies.
    case replyMachine = "reply.machine"
    case replyRemoved = "reply.removed"
    case replyPrecheck = "reply.precheck"
    case replyProbe = "reply.probe"
    case replyStates = "reply.states"
    case replyCatalogImages = "reply.catalog.images"
    case replyCatalogSizes = "reply.catalog.sizes"
    case replyCatalogLocations = "reply.catalog.locations"
    case replySSHHostIdentity = "reply.ssh.host-identity"
    case replySSHUserCredentials = "reply.ssh.user-credentials"
    case replyFailure = "reply.failure"

    // Events.
    case eventOperation = "event.operation"
    case eventMachineState = "event.machine.state"
    case eventDriverAnnounce = "event.driver.announce"

    /// Whether messages of this kind must name a tenant. Only driver announcements are tenant-less.
    package var requiresTenant: Bool {
        self != .eventDriverAnnounce
    }

    /// The kind named `name` on the wire, or nil (a dictionary lookup: every message's header is read this way).
    package static func named(_ name: String) -> MessageKind? { byName[name] }

    private static let byName = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })

    package init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let name = try container.decode(String.self)
        guard let kind = Self.named(name) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: Self.unknownName(name))
        }
        self = kind
    }

    /// Why `name` was refused as a kind.
    static func unknownName(_ name: String) -> String {
        "Cannot initialize MessageKind from invalid String value \(name)"
    }

    /// The category the kind belongs to.
    package var category: MessageCategory {
        if rawValue.hasPrefix("reply.") { return .reply }
        if rawValue.hasPrefix("event.") { return .event }
        return .command
    }
}

/// Keys of the envelope object on the wire.
package enum EnvelopeKey: String, CodingKey {
    case schemaVersion, messageId, kind, tenantId, operationId, idempotencyKey, inReplyTo
    case traceparent, tracestate, createdAt, payload
}

/// A typed payload; its kind selects the JSON shape of the envelope's `payload` object.
package protocol MessagePayload: Sendable, Hashable {
    /// The category every kind of this payload type belongs to.
    static var category: MessageCategory { get }
    /// The wire kind of this payload.
    var kind: MessageKind { get }
    /// Writes the payload under ``EnvelopeKey/payload``.
    func encode(to container: inout KeyedEncodingContainer<EnvelopeKey>) throws
    /// Reads the payload of `kind` from ``EnvelopeKey/payload``.
    init(kind: MessageKind, from container: KeyedDecodingContainer<EnvelopeKey>) throws
}

/// Thrown when a kind of another category is decoded into a payload type.
enum EnvelopeDecodingError: Error {
    case wrongCategory(MessageKind)
}

/// A message on the wire: routing and tracing metadata plus a typed payload.
///
/// ```json
/// {"schemaVersion": "1.0", "messageId": "…", "kind": "machine.create", "tenantId": "…",
///  "operationId": "…", "idempotencyKey": "…", "traceparent": "00-…-…-01",
///  "createdAt": "2026-11-22T04:25:00.123Z", "payload": {…}}
/// ```
package struct Envelope<Payload: MessagePayload>: Sendable, Hashable, Codable {
    /// The schema version the writer used; ``SchemaVersion/current`` for new messages.
    package var schemaVersion: SchemaVersion
    /// Unique per message.
    package var messageId: MessageID
    /// The tenant the message concerns; nil only for tenant-less events (driver announcements).
    package var tenantId: TenantID?
    /// The user-visible operation this message belongs to, if any (catalog and state queries have none).
    package var operationId: OperationID?
    /// The client's `Idempotency-Key` of the request that started the operation, if any.
    package var idempotencyKey: IdempotencyKey?
    /// For a reply: the `messageId` of the command it answers.
    package var inReplyTo: MessageID?
    /// W3C trace context (`traceparent`, `tracestate` on the wire).
    package var trace: TraceContext
    /// When the message was written (UTC, millisecond precision on the wire).
    package var createdAt: Date
    /// What the message says.
    package var payload: Payload

    /// The payload's kind.
    package var kind: MessageKind { payload.kind }

    package init(
        schemaVersion: SchemaVersion = .current, messageId: MessageID = .random(), tenantId: TenantID?,
        operationId: OperationID? = nil, idempotencyKey: IdempotencyKey? = nil, inReplyTo: MessageID? = nil,
        trace: TraceContext, createdAt: Date = Date(), payload: Payload
    ) {
        self.schemaVersion = schemaVersion
        self.messageId = messageId
        self.tenantId = tenantId
        self.operationId = operationId
        self.idempotencyKey = idempotencyKey
        self.inReplyTo = inReplyTo
        self.trace = trace
        self.createdAt = createdAt
        self.payload = payload
    }

    /// Every header field is a string on the wire, read as one and then checked here: no nested
    /// decoder per field (every message is read this way).
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: EnvelopeKey.self)
        func text(_ key: EnvelopeKey) throws -> String? { try container.decodeIfPresent(String.self, forKey: key) }
        func required(_ key: EnvelopeKey) throws -> String { try container.decode(String.self, forKey: key) }
        func invalid(_ key: EnvelopeKey, _ detail: String) -> DecodingError {
            .dataCorruptedError(forKey: key, in: container, debugDescription: detail)
        }
        func identifier<Tag>(_ key: EnvelopeKey, _ value: String) throws -> Identifier<Tag> {
            do {
                return try Identifier(value, field: key.stringValue)
            } catch {
                throw invalid(key, error.message)
            }
        }
        let version = try required(.schemaVersion)
        guard let schemaVersion = SchemaVersion(version) else {
            throw invalid(.schemaVersion, SchemaVersion.notAVersion(version))
        }
        self.schemaVersion = schemaVersion
        messageId = try identifier(.messageId, try required(.messageId))
        tenantId = try text(.tenantId).map { try identifier(.tenantId, $0) }
        operationId = try text(.operationId).map { try identifier(.operationId, $0) }
        idempotencyKey = try text(.idempotencyKey).map { try identifier(.idempotencyKey, $0) }
        inReplyTo = try text(.inReplyTo).map { try identifier(.inReplyTo, $0) }
        let traceparent = try required(.traceparent)
        guard let trace = TraceContext(traceparent: traceparent, tracestate: try text(.tracestate)) else {
            throw invalid(.traceparent, "\"\(traceparent)\" is not a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)")
        }
        self.trace = trace
        let created = try required(.createdAt)
        guard let createdAt = Timestamp.parse(created) else {
            throw invalid(.createdAt, "\"\(created)\" is not \(Timestamp.shape)")
        }
        self.createdAt = createdAt
        let kindName = try required(.kind)
        guard let kind = MessageKind.named(kindName) else {
            throw invalid(.kind, MessageKind.unknownName(kindName))
        }
        payload = try Payload(kind: kind, from: container)
    }

    /// Writes the keys in their canonical (sorted) order, so the encoder need not reorder them, and
    /// every header field as the string it is on the wire.
    package func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: EnvelopeKey.self)
        try container.encode(Timestamp.format(createdAt), forKey: .createdAt)
        try container.encodeIfPresent(idempotencyKey?.rawValue, forKey: .idempotencyKey)
        try container.encodeIfPresent(inReplyTo?.rawValue, forKey: .inReplyTo)
        try container.encode(kind.rawValue, forKey: .kind)
        try container.encode(messageId.rawValue, forKey: .messageId)
        try container.encodeIfPresent(operationId?.rawValue, forKey: .operationId)
        try payload.encode(to: &container)
        try container.encode(schemaVersion.description, forKey: .schemaVersion)
        try container.encodeIfPresent(tenantId?.rawValue, forKey: .tenantId)
        try container.encode(trace.traceparent, forKey: .traceparent)
        try container.encodeIfPresent(trace.traceState, forKey: .tracestate)
    }
}

/// A command envelope.
package typealias CommandEnvelope = Envelope<CommandPayload>
/// A reply envelope.
package typealias ReplyEnvelope = Envelope<ReplyPayload>
/// An event envelope.
package typealias EventEnvelope = Envelope<EventPayload>

extension Envelope {
    /// A reply to this message: same tenant, operation, idempotency key; `inReplyTo` set; a child span.
    package func reply(_ payload: ReplyPayload, createdAt: Date = Date()) -> ReplyEnvelope {
        ReplyEnvelope(
            tenantId: tenantId, operationId: operationId, idempotencyKey: idempotencyKey, inReplyTo: messageId,
            trace: trace.child(), createdAt: createdAt, payload: payload)
    }

    /// An event caused by this message: same tenant, operation, idempotency key; a child span.
    package func event(_ payload: EventPayload, createdAt: Date = Date()) -> EventEnvelope {
        EventEnvelope(
            tenantId: tenantId, operationId: operationId, idempotencyKey: idempotencyKey, trace: trace.child(),
            createdAt: createdAt, payload: payload)
    }
}

/// Any decoded message, by category.
package enum Message: Sendable, Hashable {
    case command(CommandEnvelope)
    case reply(ReplyEnvelope)
    case event(EventEnvelope)

    /// The message's kind.
    package var kind: MessageKind {
        switch self {
        case .command(let envelope): envelope.kind
        case .reply(let envelope): envelope.kind
        case .event(let envelope): envelope.kind
        }
    }
}
