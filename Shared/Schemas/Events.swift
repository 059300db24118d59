package import Foundation

/// Where an operation (or one machine's part of it) stands.
package enum OperationPhase: String, Sendable, Hashable, Codable {
    /// Recorded and queued; nothing done yet.
    case accepted
    /// A driver is working on it.
    case running
    case succeeded
    case failed

    /// Whether the phase is final.
    package var isFinished: Bool { self == .succeeded || self == .failed }
}

/// One machine's part of an operation.
package struct MachineProgress: Sendable, Hashable, Codable {
    package var machine: MachineRef
    package var phase: OperationPhase
    /// The current step, for a progress display (e.g. `"waiting for ssh"`).
    package var step: String?
    /// The machine's state when known.
    package var state: MachineState?
    /// Set when ``phase`` is `failed`.
    package var error: OperationError?
    /// The machine as the driver left it, when its part succeeded (addresses, SSH endpoint,
    /// provider ids), so the gateway and the status collector can record it without asking.
    package var details: MachineDetails?

    package init(
        machine: MachineRef, phase: OperationPhase, step: String? = nil, state: MachineState? = nil,
        error: OperationError? = nil, details: MachineDetails? = nil
    ) {
        self.machine = machine
        self.phase = phase
        self.step = step
        self.state = state
        self.error = error
        self.details = details
    }
}

/// `event.operation`: progress of an operation (the envelope's `operationId`), as shown by
/// `GET /v1/operations/{id}` and its event stream.
package struct OperationProgress: Sendable, Hashable, Codable {
    /// The command kind the operation runs (e.g. `machine.create`). A string, not a
    /// ``MessageKind``, so an event about a kind added by a newer minor still decodes.
    package var command: String
    package var phase: OperationPhase
    /// Per-machine progress; may list only the machines this event is about.
    package var machines: [MachineProgress]
    /// Set when ``phase`` is `failed` for the operation as a whole.
    package var error: OperationError?

    package init(
        command: MessageKind, phase: OperationPhase, machines: [MachineProgress] = [], error: OperationError? = nil
    ) {
        self.command = command.rawValue
        self.phase = phase
        self.machines = machines
        self.error = error
    }
}

/// `event.machine.state`: a machine's state changed.
package struct MachineStateChanged: Sendable, Hashable, Codable {
    /// Who observed the change.
    package enum Source: String, Sendable, Hashable, Codable {
        /// The status collector's periodic batch poll.
        case poll
        /// A driver, as part of an operation it ran.
        case operation
    }

    package var machine: MachineRef
    /// The previous state; nil for a machine seen for the first time.
    package var oldState: MachineState?
    package var newState: MachineState
    package var observedAt: Date
    package var source: Source

    package init(
        machine: MachineRef, oldState: MachineState?, newState: MachineState, observedAt: Date, source: Source
    ) {
        self.machine = machine
        self.oldState = oldState
        self.newState = newState
        self.observedAt = observedAt
        self.source = source
    }
}

/// Something a driver can do. An open set: capabilities added by a newer minor decode fine.
package struct DriverCapability: RawRepresentable, Sendable, Hashable, Codable, ExpressibleByStringLiteral {
    package let rawValue: String

    package init(rawValue: String) { self.rawValue = rawValue }
    package init(stringLiteral value: String) { self.rawValue = value }

    package static let create: DriverCapability = "create"
    package static let remove: DriverCapability = "remove"
    package static let start: DriverCapability = "start"
    package static let stop: DriverCapability = "stop"
    package static let restart: DriverCapability = "restart"
    package static let kill: DriverCapability = "kill"
    package static let states: DriverCapability = "states"
    package static let catalog: DriverCapability = "catalog"
    package static let probe: DriverCapability = "probe"
    package static let precheck: DriverCapability = "precheck"
    /// The machines of one cluster share a private network.
    package static let clusterNetwork: DriverCapability = "cluster-network"
}

/// One create option of a driver (Docker Machine's `mcnflag`): the CLI derives
/// `--<driver>-<name>` and the gateway validates `options` against it.
package struct CreateOptionSpec: Sendable, Hashable, Codable {
    /// The JSON type of the option's value.
    package enum ValueType: String, Sendable, Hashable, Codable {
        case string
        case integer
        case number
        case boolean
        case stringList = "string-list"
    }

    /// Option name, a DNS label (e.g. `region`, `ssh-port`).
    package var name: ResourceName
    package var type: ValueType
    package var required: Bool
    /// Value used when the option is absent.
    package var `default`: JSONValue?
    /// Environment variable the CLI falls back to (e.g. `PAZ_EC2_REGION`).
    package var envVar: String?
    package var description: String
    /// Whether the value is a secret (never logged, never echoed, stored encrypted).
    package var secret: Bool
    /// For `integer` options: the smallest and largest value accepted (checked by the gateway).
    package var minimum: Int64?
    package var maximum: Int64?

    package init(
        name: ResourceName, type: ValueType, required: Bool = false, default: JSONValue? = nil,
        envVar: String? = nil, description: String, secret: Bool = false, minimum: Int64? = nil, maximum: Int64? = nil
    ) {
        self.minimum = minimum
        self.maximum = maximum
        self.name = name
        self.type = type
        self.required = required
        self.default = `default`
        self.envVar = envVar
        self.description = description
        self.secret = secret
    }
}

/// `event.driver.announce`: a driver replica is alive (also the value of its registry entry in
/// Redis, refreshed every heartbeat with a TTL).
package struct DriverAnnouncement: Sendable, Hashable, Codable {
    /// Driver name, e.g. `qemu`; its command queue is ``Routing/driverCommandQueue(driver:)``.
    package var name: ResourceName
    /// The driver's software version (e.g. `0.3.1`); two may run side by side during a rollout.
    package var version: String
    /// This replica (e.g. host name + pid); replicas of one driver share the queue.
    package var instanceId: String
    /// The newest schema version the replica writes (it reads every minor of that major).
    package var schemaVersion: SchemaVersion
    package var capabilities: [DriverCapability]
    package var createOptions: [CreateOptionSpec]
    /// Seconds until the announcement expires unless renewed.
    package var ttlSeconds: Int
    package var startedAt: Date

    package init(
        name: ResourceName, version: String, instanceId: String, schemaVersion: SchemaVersion = .current,
        capabilities: [DriverCapability], createOptions: [CreateOptionSpec], ttlSeconds: Int, startedAt: Date
    ) {
        self.name = name
        self.version = version
        self.instanceId = instanceId
        self.schemaVersion = schemaVersion
        self.capabilities = capabilities
        self.createOptions = createOptions
        self.ttlSeconds = ttlSeconds
        self.startedAt = startedAt
    }
}

/// The payload of an event.
package enum EventPayload: Sendable, Hashable {
    case operation(OperationProgress)
    case machineState(MachineStateChanged)
    case driverAnnounce(DriverAnnouncement)
}

extension EventPayload: MessagePayload {
    package static let category = MessageCategory.event

    package var kind: MessageKind {
        switch self {
        case .operation: .eventOperation
        case .machineState: .eventMachineState
        case .driverAnnounce: .eventDriverAnnounce
        }
    }

    package func encode(to container: inout KeyedEncodingContainer<EnvelopeKey>) throws {
        switch self {
        case .operation(let body): try container.encode(body, forKey: .payload)
        case .machineState(let body): try container.encode(body, forKey: .payload)
        case .driverAnnounce(let body): try container.encode(body, forKey: .payload)
        }
    }

    package init(kind: MessageKind, from container: KeyedDecodingContainer<EnvelopeKey>) throws {
        func body<T: Decodable>(_: T.Type = T.self) throws -> T { try container.decode(T.self, forKey: .payload) }
        switch kind {
        case .eventOperation: self = .operation(try body())
        case .eventMachineState: self = .machineState(try body())
        case .eventDriverAnnounce: self = .driverAnnounce(try body())
        default: throw EnvelopeDecodingError.wrongCategory(kind)
        }
    }
}
