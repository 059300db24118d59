package import Foundation
package import PazSchemas

/// A tenant: the unit of ownership, quota and isolation.
package struct TenantRecord: Sendable, Hashable, Codable {
    package var id: TenantID
    package var name: ResourceName
    /// Most machines the tenant may have at once.
    package var machineQuota: Int
    package var createdAt: Date

    package init(id: TenantID = .random(), name: ResourceName, machineQuota: Int = 50, createdAt: Date = Date()) {
        self.id = id
        self.name = name
        self.machineQuota = machineQuota
        self.createdAt = createdAt
    }
}

/// A tenant API token, stored under its SHA-256 hash.
package struct TokenRecord: Sendable, Hashable, Codable {
    /// `tok_<ULID>`: how the token is named in listings and revoked.
    package var id: String
    package var tenantId: TenantID
    package var name: String?
    /// The token's first 9 characters (`pazt_` + 4), to recognise it; nil for tokens made before it was kept.
    package var prefix: String?
    package var createdAt: Date
    /// After this the token is refused; nil = it does not expire.
    package var expiresAt: Date?

    package init(
        id: String = "tok_" + ULID.make(), tenantId: TenantID, name: String? = nil, prefix: String? = nil,
        createdAt: Date = Date(), expiresAt: Date? = nil
    ) {
        self.id = id
        self.tenantId = tenantId
        self.name = name
        self.prefix = prefix
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    /// Whether the token is past its lifetime at `now`.
    package func isExpired(at now: Date) -> Bool {
        expiresAt.map { $0 <= now } ?? false
    }
}

/// A cluster as the gateway recorded it. Secret option values are never here (see
/// ``Store/putSecrets(_:tenant:machine:)``); only their names are.
package struct ClusterRecord: Sendable, Hashable, Codable {
    package var id: ClusterID
    package var name: ResourceName
    package var driver: ResourceName
    package var size: String?
    package var image: String?
    package var location: String?
    /// Non-secret driver options given at create.
    package var options: [String: JSONValue]
    /// Names of the secret options given at create (values are sealed per machine).
    package var secretOptionNames: [String]
    package var machineIds: [MachineID]
    /// The operation in flight on the whole cluster, if any.
    package var pendingOperation: OperationID?
    package var createdAt: Date

    package init(
        id: ClusterID = .random(), name: ResourceName, driver: ResourceName, size: String? = nil,
        image: String? = nil, location: String? = nil, options: [String: JSONValue] = [:],
        secretOptionNames: [String] = [], machineIds: [MachineID] = [], pendingOperation: OperationID? = nil,
        createdAt: Date = Date()
    ) {
        self.id = id
        self.name = name
        self.driver = driver
        self.size = size
        self.image = image
        self.location = location
        self.options = options
        self.secretOptionNames = secretOptionNames
        self.machineIds = machineIds
        self.pendingOperation = pendingOperation
        self.createdAt = createdAt
    }
}

/// A machine as the gateway recorded it; ``details`` comes from the driver once create succeeded.
package struct MachineRecord: Sendable, Hashable, Codable {
    package var id: MachineID
    package var name: ResourceName
    package var clusterId: ClusterID
    package var driver: ResourceName
    /// Non-secret options for this machine (cluster options merged with per-machine ones).
    package var options: [String: JSONValue]
    /// What the driver reported at the end of the last successful operation.
    package var details: MachineDetails?
    /// The operation in flight on this machine, if any.
    package var pendingOperation: OperationID?
    package var createdAt: Date

    package init(
        id: MachineID = .random(), name: ResourceName, clusterId: ClusterID, driver: ResourceName,
        options: [String: JSONValue] = [:], details: MachineDetails? = nil, pendingOperation: OperationID? = nil,
        createdAt: Date = Date()
    ) {
        self.id = id
        self.name = name
        self.clusterId = clusterId
        self.driver = driver
        self.options = options
        self.details = details
        self.pendingOperation = pendingOperation
        self.createdAt = createdAt
    }

    /// The pair messages use to name this machine.
    package var ref: MachineRef { MachineRef(clusterId: clusterId, machineId: id) }
}

/// A machine's last observed state.
package struct StateRecord: Sendable, Hashable, Codable {
    package var state: MachineState
    package var observedAt: Date
    package var source: MachineStateChanged.Source

    package init(state: MachineState, observedAt: Date, source: MachineStateChanged.Source) {
        self.state = state
        self.observedAt = observedAt
        self.source = source
    }
}

/// What an operation is about.
package struct OperationTarget: Sendable, Hashable, Codable {
    package enum Kind: String, Sendable, Hashable, Codable {
        case cluster
        case machine
    }

    package var type: Kind
    /// The cluster's or the machine's id.
    package var id: String
    package var name: String
    package var clusterId: ClusterID
    /// The cluster's name when the operation was accepted (answered after the cluster is gone).
    package var clusterName: String?

    package init(type: Kind, id: String, name: String, clusterId: ClusterID, clusterName: String? = nil) {
        self.type = type
        self.id = id
        self.name = name
        self.clusterId = clusterId
        self.clusterName = clusterName ?? (type == .cluster ? name : nil)
    }
}

/// A user-visible operation. Its phase is derived from the per-machine progress the store keeps
/// beside it (so concurrent events never overwrite each other): see ``OperationView``.
package struct OperationRecord: Sendable, Hashable, Codable {
    package var id: OperationID
    /// `cluster.create`, `machine.create`, `cluster.remove`, `machine.stop`…
    package var kind: String
    package var target: OperationTarget
    /// The machines the operation acts on; it ends when each of them has ended.
    package var machines: [MachineRef]
    /// Machine id → name when the operation was accepted (answered after a machine is gone).
    package var machineNames: [String: String]?
    package var idempotencyKey: String?
    package var createdAt: Date
    /// Set when the operation failed before any machine was asked (e.g. the command was refused).
    package var error: OperationError?

    package init(
        id: OperationID = .random(), kind: String, target: OperationTarget, machines: [MachineRef],
        machineNames: [String: String]? = nil, idempotencyKey: String? = nil, createdAt: Date = Date(),
        error: OperationError? = nil
    ) {
        self.id = id
        self.kind = kind
        self.target = target
        self.machines = machines
        self.machineNames = machineNames
        self.idempotencyKey = idempotencyKey
        self.createdAt = createdAt
        self.error = error
    }
}

/// An operation with its progress, and the phase derived from it.
package struct OperationView: Sendable, Hashable {
    package var record: OperationRecord
    /// Progress per machine, in the order of ``OperationRecord/machines``; queued machines have none yet.
    package var progress: [MachineProgress]
    package var updatedAt: Date

    /// queued until a machine reports, running until every machine has ended, then succeeded only
    /// if every machine succeeded.
    package var phase: OperationPhase {
        if record.error != nil { return .failed }
        if progress.isEmpty { return .accepted }
        guard progress.count == record.machines.count, progress.allSatisfy({ $0.phase.isFinished }) else {
            return .running
        }
        return progress.allSatisfy { $0.phase == .succeeded } ? .succeeded : .failed
    }

    /// The first machine error, or the operation's own.
    package var error: OperationError? {
        record.error ?? progress.lazy.compactMap(\.error).first
    }
}

/// What an `Idempotency-Key` was first used for.
package struct IdempotencyRecord: Sendable, Hashable, Codable {
    /// SHA-256 of the method, path and body of the first request.
    package var requestHash: String
    package var operationId: OperationID

    package init(requestHash: String, operationId: OperationID) {
        self.requestHash = requestHash
        self.operationId = operationId
    }
}
