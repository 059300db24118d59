/// A machine within a cluster: the pair every per-machine message names.
package struct MachineRef: Sendable, Hashable, Codable {
    package var clusterId: ClusterID
    package var machineId: MachineID

    package init(clusterId: ClusterID, machineId: MachineID) {
        self.clusterId = clusterId
        self.machineId = machineId
    }
}

/// `machine.create`: make one machine of a cluster (a cluster of N is N of these under one
/// operation id). Done when the machine answers SSH with the expected host identity.
package struct MachineCreate: Sendable, Hashable, Codable {
    /// The driver that should create it (also the routing key of the command).
    package var driver: ResourceName
    package var clusterId: ClusterID
    package var clusterName: ResourceName
    package var machineId: MachineID
    package var machineName: ResourceName
    /// Catalog size id; nil means the driver's default.
    package var size: String?
    /// Catalog image id; nil means the driver's default.
    package var image: String?
    /// Catalog location id; nil means the driver's default.
    package var location: String?
    /// Driver options by name, as described by the driver's ``CreateOptionSpec``s.
    package var options: [String: JSONValue]
    /// Public SSH trust material from the SSH broker, when the gateway already has it.
    package var sshTrust: SSHTrust?
    /// How many machines the operation creates (N for a cluster of N; nil: one): a driver checks the
    /// account's limit for all of them before it makes the first (optional: older readers ignore it).
    package var machinesInOperation: Int?

    package init(
        driver: ResourceName, clusterId: ClusterID, clusterName: ResourceName, machineId: MachineID,
        machineName: ResourceName, size: String? = nil, image: String? = nil, location: String? = nil,
        options: [String: JSONValue] = [:], sshTrust: SSHTrust? = nil, machinesInOperation: Int? = nil
    ) {
        self.driver = driver
        self.clusterId = clusterId
        self.clusterName = clusterName
        self.machineId = machineId
        self.machineName = machineName
        self.size = size
        self.image = image
        self.location = location
        self.options = options
        self.sshTrust = sshTrust
        self.machinesInOperation = machinesInOperation
    }

    /// The machine this creates.
    package var machine: MachineRef { MachineRef(clusterId: clusterId, machineId: machineId) }
}

/// Public SSH material a driver installs on a new machine (cloud-init, Ignition, or over SSH).
/// Private host keys never travel in commands (queues are persisted): a driver fetches them from
/// the broker with `ssh.host-identity`.
package struct SSHTrust: Sendable, Hashable, Codable {
    /// The tenant's user CA, for sshd's `TrustedUserCAKeys` (OpenSSH public key line).
    package var userCAPublicKey: String?
    /// The tenant's host CA, for clients' `@cert-authority` lines.
    package var hostCAPublicKey: String?
    /// The machine's host public key, when issued in advance.
    package var hostPublicKey: String?
    /// The machine's host certificate (`ssh-ed25519-cert-v01@openssh.com …`), when issued in advance.
    package var hostCertificate: String?

    package init(
        userCAPublicKey: String? = nil, hostCAPublicKey: String? = nil, hostPublicKey: String? = nil,
        hostCertificate: String? = nil
    ) {
        self.userCAPublicKey = userCAPublicKey
        self.hostCAPublicKey = hostCAPublicKey
        self.hostPublicKey = hostPublicKey
        self.hostCertificate = hostCertificate
    }
}

/// `machine.precheck`: validate credentials, quota, names and options for the machines a create
/// would make, before spending money. Nothing is created.
package struct PreCreateCheck: Sendable, Hashable, Codable {
    /// Every machine the create would make (so quota is checked for all of them at once).
    package var machines: [MachineCreate]

    package init(machines: [MachineCreate]) {
        self.machines = machines
    }
}

/// `machine.remove`, `machine.start`, `machine.stop`, `machine.restart`, `machine.kill`,
/// `machine.probe`: one action on one machine.
package struct MachineAction: Sendable, Hashable, Codable {
    package var machine: MachineRef
    /// How long the driver may wait for the action (e.g. a graceful stop before forcing it); nil
    /// means the driver's default.
    package var timeoutSeconds: Int?

    package init(machine: MachineRef, timeoutSeconds: Int? = nil) {
        self.machine = machine
        self.timeoutSeconds = timeoutSeconds
    }
}

/// `cluster.remove`: remove the listed machines and every cluster-wide artifact (network,
/// firewall/security group, keys, tags). Anything already gone counts as removed.
package struct ClusterRemove: Sendable, Hashable, Codable {
    package var clusterId: ClusterID
    /// The machines the gateway knows of; the driver also sweeps anything tagged with the cluster.
    package var machineIds: [MachineID]

    package init(clusterId: ClusterID, machineIds: [MachineID]) {
        self.clusterId = clusterId
        self.machineIds = machineIds
    }
}

/// `machine.states`: the states of many machines of one tenant, answered with ONE list call per
/// provider account.
package struct MachineStatesQuery: Sendable, Hashable, Codable {
    package var machines: [MachineRef]

    package init(machines: [MachineRef]) {
        self.machines = machines
    }
}

/// `catalog.images`: images the driver offers, optionally filtered.
package struct CatalogImagesQuery: Sendable, Hashable, Codable {
    /// Case-insensitive text matched against id and name.
    package var search: String?
    /// Only images usable in this location.
    package var location: String?

    package init(search: String? = nil, location: String? = nil) {
        self.search = search
        self.location = location
    }
}

/// `catalog.sizes`: sizes the driver offers.
package struct CatalogSizesQuery: Sendable, Hashable, Codable {
    /// Only sizes available in this location.
    package var location: String?

    package init(location: String? = nil) {
        self.location = location
    }
}

/// `catalog.locations`: locations the driver offers.
package struct CatalogLocationsQuery: Sendable, Hashable, Codable {
    package init() {}
}

/// `ssh.host-identity` (RPC to the SSH broker): a host key pair and host certificate for a new
/// machine, plus the tenant's user-CA public key.
package struct HostIdentityRequest: Sendable, Hashable, Codable {
    package var machine: MachineRef
    /// Names and addresses the host certificate is valid for (its principals).
    package var principals: [String]

    package init(machine: MachineRef, principals: [String]) {
        self.machine = machine
        self.principals = principals
    }
}

/// The type of the ephemeral key in ``UserCredentials`` (`ssh.user-credentials`, `keyType`).
package enum SSHKeyType: String, Sendable, Hashable, Codable, CaseIterable {
    /// Ed25519 (`ssh-ed25519`): what OpenSSH clients get; the default when `keyType` is absent.
    case ed25519
    /// ECDSA on NIST P-256 (`ecdsa-sha2-nistp256`): for clients that cannot use Ed25519 user keys
    /// with certificates (services logging in with libssh2 1.10).
    case ecdsa
}

/// `ssh.user-credentials` (RPC to the SSH broker): a short-lived user certificate for a machine
/// the tenant owns.
package struct UserCredentialsRequest: Sendable, Hashable, Codable {
    package var machine: MachineRef
    /// The login user the certificate is valid for.
    package var principal: String
    /// Requested validity; the broker caps it at its configured maximum.
    package var ttlSeconds: Int?
    /// The type of the ephemeral key; nil (omitted on the wire) means ``SSHKeyType/ed25519``.
    package var keyType: SSHKeyType?
    /// An OpenSSH public key line to certify instead of generating a key pair (the reply then has no
    /// private key: it never leaves the client).
    package var publicKey: String?
    /// Where the machine answers SSH while its create runs and none is recorded yet (a driver's
    /// readiness check of a VM it is booting); a recorded endpoint always wins.
    package var endpoint: SSHEndpoint?

    package init(
        machine: MachineRef, principal: String, ttlSeconds: Int? = nil, keyType: SSHKeyType? = nil, publicKey: String? = nil,
        endpoint: SSHEndpoint? = nil
    ) {
        self.machine = machine
        self.principal = principal
        self.ttlSeconds = ttlSeconds
        self.keyType = keyType
        self.publicKey = publicKey
        self.endpoint = endpoint
    }
}

/// The payload of a command: what a driver (or the SSH broker) is asked to do.
package enum CommandPayload: Sendable, Hashable {
    case machineCreate(MachineCreate)
    case machinePrecheck(PreCreateCheck)
    case machineRemove(MachineAction)
    case machineStart(MachineAction)
    case machineStop(MachineAction)
    case machineRestart(MachineAction)
    case machineKill(MachineAction)
    case machineProbe(MachineAction)
    case machineStates(MachineStatesQuery)
    case clusterRemove(ClusterRemove)
    case catalogImages(CatalogImagesQuery)
    case catalogSizes(CatalogSizesQuery)
    case catalogLocations(CatalogLocationsQuery)
    case sshHostIdentity(HostIdentityRequest)
    case sshUserCredentials(UserCredentialsRequest)
}

extension CommandPayload: MessagePayload {
    package static let category = MessageCategory.command

    package var kind: MessageKind {
        switch self {
        case .machineCreate: .machineCreate
        case .machinePrecheck: .machinePrecheck
        case .machineRemove: .machineRemove
        case .machineStart: .machineStart
        case .machineStop: .machineStop
        case .machineRestart: .machineRestart
        case .machineKill: .machineKill
        case .machineProbe: .machineProbe
        case .machineStates: .machineStates
        case .clusterRemove: .clusterRemove
        case .catalogImages: .catalogImages
        case .catalogSizes: .catalogSizes
        case .catalogLocations: .catalogLocations
        case .sshHostIdentity: .sshHostIdentity
        case .sshUserCredentials: .sshUserCredentials
        }
    }

    package func encode(to container: inout KeyedEncodingContainer<EnvelopeKey>) throws {
        switch self {
        case .machineCreate(let body): try container.encode(body, forKey: .payload)
        case .machinePrecheck(let body): try container.encode(body, forKey: .payload)
        case .machineRemove(let body), .machineStart(let body), .machineStop(let body),
            .machineRestart(let body), .machineKill(let body), .machineProbe(let body):
            try container.encode(body, forKey: .payload)
        case .machineStates(let body): try container.encode(body, forKey: .payload)
        case .clusterRemove(let body): try container.encode(body, forKey: .payload)
        case .catalogImages(let body): try container.encode(body, forKey: .payload)
        case .catalogSizes(let body): try container.encode(body, forKey: .payload)
        case .catalogLocations(let body): try container.encode(body, forKey: .payload)
        case .sshHostIdentity(let body): try container.encode(body, forKey: .payload)
        case .sshUserCredentials(let body): try container.encode(body, forKey: .payload)
        }
    }

    package init(kind: MessageKind, from container: KeyedDecodingContainer<EnvelopeKey>) throws {
        func body<T: Decodable>(_: T.Type = T.self) throws -> T { try container.decode(T.self, forKey: .payload) }
        switch kind {
        case .machineCreate: self = .machineCreate(try body())
        case .machinePrecheck: self = .machinePrecheck(try body())
        case .machineRemove: self = .machineRemove(try body())
        case .machineStart: self = .machineStart(try body())
        case .machineStop: self = .machineStop(try body())
        case .machineRestart: self = .machineRestart(try body())
        case .machineKill: self = .machineKill(try body())
        case .machineProbe: self = .machineProbe(try body())
        case .machineStates: self = .machineStates(try body())
        case .clusterRemove: self = .clusterRemove(try body())
        case .catalogImages: self = .catalogImages(try body())
        case .catalogSizes: self = .catalogSizes(try body())
        case .catalogLocations: self = .catalogLocations(try body())
        case .sshHostIdentity: self = .sshHostIdentity(try body())
        case .sshUserCredentials: self = .sshUserCredentials(try body())
        default: throw EnvelopeDecodingError.wrongCategory(kind)
        }
    }
}

extension CommandPayload {
    /// The machines a mutating command acts on, in order (none for queries and SSH requests).
    package var machines: [MachineRef] {
        switch self {
        case .machineCreate(let create): [create.machine]
        case .machineRemove(let action), .machineStart(let action), .machineStop(let action),
             .machineRestart(let action), .machineKill(let action):
            [action.machine]
        case .clusterRemove(let remove):
            remove.machineIds.map { MachineRef(clusterId: remove.clusterId, machineId: $0) }
        default:
            []
        }
    }
}
