package import Foundation

/// How to reach a machine over SSH.
package struct SSHEndpoint: Sendable, Hashable, Codable {
    /// Host name or address (for QEMU: `127.0.0.1`, with a forwarded port).
    package var host: String
    package var port: Int
    package var user: String

    package init(host: String, port: Int = 22, user: String) {
        self.host = host
        self.port = port
        self.user = user
    }
}

/// One address of a machine.
package struct MachineAddress: Sendable, Hashable, Codable {
    /// Where an address can be reached from.
    package enum Scope: String, Sendable, Hashable, Codable {
        /// Reachable by clients of the stack (a public IP, or a loopback forward for QEMU).
        case `public`
        /// Reachable only inside the cluster's network.
        case `private`
    }

    /// IPv4 or IPv6 address, textual.
    package var address: String
    package var scope: Scope

    package init(address: String, scope: Scope) {
        self.address = address
        self.scope = scope
    }
}

/// `reply.machine`: a machine after create, start, stop, restart or kill (the driver contract's
/// GetState, GetIP, GetSSHHostname/Port/Username and GetURL in one answer).
package struct MachineDetails: Sendable, Hashable, Codable {
    package var machine: MachineRef
    package var state: MachineState
    /// When ``state`` was observed.
    package var observedAt: Date
    /// The provider's id of the machine (instance id, droplet id, QEMU pid file name…).
    package var providerId: String?
    package var addresses: [MachineAddress]
    /// Where SSH answers; nil while the machine has no address.
    package var ssh: SSHEndpoint?
    /// A service URL the driver reports (Docker Machine's GetURL), if any.
    package var url: String?
    package var size: String?
    package var image: String?
    package var location: String?
    /// Other provider artifacts made for this machine, by role (e.g. `"securityGroup": "sg-…"`),
    /// so removal and the sweeper can find them.
    package var providerResources: [String: String]

    package init(
        machine: MachineRef, state: MachineState, observedAt: Date, providerId: String? = nil,
        addresses: [MachineAddress] = [], ssh: SSHEndpoint? = nil, url: String? = nil, size: String? = nil,
        image: String? = nil, location: String? = nil, providerResources: [String: String] = [:]
    ) {
        self.machine = machine
        self.state = state
        self.observedAt = observedAt
        self.providerId = providerId
        self.addresses = addresses
        self.ssh = ssh
        self.url = url
        self.size = size
        self.image = image
        self.location = location
        self.providerResources = providerResources
    }
}

/// `reply.removed`: what `machine.remove` or `cluster.remove` removed.
package struct RemovalResult: Sendable, Hashable, Codable {
    package var clusterId: ClusterID
    /// Machines that no longer exist (removed now, or already gone).
    package var machineIds: [MachineID]
    /// Artifacts removed, as `role:provider-id` strings for the audit trail (e.g. `"disk:vol-1"`).
    package var removedResources: [String]
    /// True when the provider no longer had the machine(s); local clean-up still happened.
    package var alreadyGone: Bool

    package init(clusterId: ClusterID, machineIds: [MachineID], removedResources: [String], alreadyGone: Bool) {
        self.clusterId = clusterId
        self.machineIds = machineIds
        self.removedResources = removedResources
        self.alreadyGone = alreadyGone
    }
}

/// `reply.precheck`: the check passed (a failed check is a `reply.failure`).
package struct PreCreateCheckResult: Sendable, Hashable, Codable {
    /// Things worth telling the user that do not block the create.
    package var warnings: [String]

    package init(warnings: [String] = []) {
        self.warnings = warnings
    }
}

/// One machine's state in a batch answer.
package struct MachineStateObservation: Sendable, Hashable, Codable {
    package var machine: MachineRef
    package var state: MachineState
    package var observedAt: Date
    /// Why the state is `error`, `unknown` or `not-found`, for people.
    package var detail: String?

    package init(machine: MachineRef, state: MachineState, observedAt: Date, detail: String? = nil) {
        self.machine = machine
        self.state = state
        self.observedAt = observedAt
        self.detail = detail
    }
}

/// `reply.states`: answer to `machine.states`, one entry per machine asked about.
package struct MachineStates: Sendable, Hashable, Codable {
    package var states: [MachineStateObservation]

    package init(states: [MachineStateObservation]) {
        self.states = states
    }
}

/// Load averages over 1, 5 and 15 minutes.
package struct LoadAverage: Sendable, Hashable, Codable {
    package var one: Double
    package var five: Double
    package var fifteen: Double

    package init(one: Double, five: Double, fifteen: Double) {
        self.one = one
        self.five = five
        self.fifteen = fifteen
    }
}

/// The fields of `/etc/os-release` a user cares about.
package struct OSRelease: Sendable, Hashable, Codable {
    /// `ID`, e.g. `debian`.
    package var id: String?
    /// `VERSION_ID`, e.g. `12`.
    package var versionId: String?
    /// `PRETTY_NAME`, e.g. `Debian GNU/Linux 12 (bookworm)`.
    package var prettyName: String?

    package init(id: String? = nil, versionId: String? = nil, prettyName: String? = nil) {
        self.id = id
        self.versionId = versionId
        self.prettyName = prettyName
    }
}

/// `reply.probe`: what a probe over SSH found (mist.io's probe).
package struct ProbeResult: Sendable, Hashable, Codable {
    package var machine: MachineRef
    /// Whether SSH answered and the probe command ran.
    package var reachable: Bool
    package var observedAt: Date
    package var uptimeSeconds: Double?
    package var loadAverage: LoadAverage?
    /// `uname -r`.
    package var kernel: String?
    package var osRelease: OSRelease?
    /// Running systemd units (`systemctl list-units --type=service --state=running`), for
    /// `cluster inspect`'s "what runs where".
    package var runningUnits: [String]?
    /// Why the machine was not reachable, for people.
    package var error: String?

    package init(
        machine: MachineRef, reachable: Bool, observedAt: Date, uptimeSeconds: Double? = nil,
        loadAverage: LoadAverage? = nil, kernel: String? = nil, osRelease: OSRelease? = nil,
        runningUnits: [String]? = nil, error: String? = nil
    ) {
        self.runningUnits = runningUnits
        self.machine = machine
        self.reachable = reachable
        self.observedAt = observedAt
        self.uptimeSeconds = uptimeSeconds
        self.loadAverage = loadAverage
        self.kernel = kernel
        self.osRelease = osRelease
        self.error = error
    }
}

/// `reply.catalog.images`.
package struct CatalogImages: Sendable, Hashable, Codable {
    package var images: [CatalogImage]
    package init(images: [CatalogImage]) { self.images = images }
}

/// `reply.catalog.sizes`.
package struct CatalogSizes: Sendable, Hashable, Codable {
    package var sizes: [CatalogSize]
    package init(sizes: [CatalogSize]) { self.sizes = sizes }
}

/// `reply.catalog.locations`.
package struct CatalogLocations: Sendable, Hashable, Codable {
    package var locations: [CatalogLocation]
    package init(locations: [CatalogLocation]) { self.locations = locations }
}

/// A secret string (a private key): encoded as-is on the wire, but `description` and `dump` never
/// show it, so logging a value that holds one does not leak it.
package struct SecretText: Sendable, Hashable, Codable, CustomStringConvertible, CustomReflectable {
    /// The secret itself. Never log it.
    package let value: String

    package init(_ value: String) { self.value = value }

    package init(from decoder: any Decoder) throws {
        value = try decoder.singleValueContainer().decode(String.self)
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(value)
    }

    package var description: String { "<redacted>" }
    package var customMirror: Mirror { Mirror(self, children: []) }
}

/// `reply.ssh.host-identity`: a machine's host identity from the SSH broker. Travels only as an
/// RPC reply (non-persistent, to an exclusive reply queue).
package struct HostIdentity: Sendable, Hashable, Codable {
    /// OpenSSH private key of the host (`-----BEGIN OPENSSH PRIVATE KEY-----…`).
    package var hostPrivateKey: SecretText
    package var hostPublicKey: String
    package var hostCertificate: String
    package var hostCAPublicKey: String
    package var userCAPublicKey: String

    package init(
        hostPrivateKey: SecretText, hostPublicKey: String, hostCertificate: String, hostCAPublicKey: String,
        userCAPublicKey: String
    ) {
        self.hostPrivateKey = hostPrivateKey
        self.hostPublicKey = hostPublicKey
        self.hostCertificate = hostCertificate
        self.hostCAPublicKey = hostCAPublicKey
        self.userCAPublicKey = userCAPublicKey
    }
}

/// `reply.ssh.user-credentials`: everything an SSH client needs for one short-lived login.
package struct UserCredentials: Sendable, Hashable, Codable {
    package var ssh: SSHEndpoint
    /// Ephemeral OpenSSH private key; nil when the request gave its own public key.
    package var privateKey: SecretText?
    package var publicKey: String
    /// OpenSSH user certificate for ``publicKey``.
    package var certificate: String
    /// `@cert-authority <host patterns> <host CA key>` for `known_hosts`.
    package var knownHostsLine: String
    /// Certificate serial (as recorded in the audit stream).
    package var serial: UInt64
    package var validAfter: Date
    package var validBefore: Date

    package init(
        ssh: SSHEndpoint, privateKey: SecretText?, publicKey: String, certificate: String, knownHostsLine: String,
        serial: UInt64, validAfter: Date, validBefore: Date
    ) {
        self.ssh = ssh
        self.privateKey = privateKey
        self.publicKey = publicKey
        self.certificate = certificate
        self.knownHostsLine = knownHostsLine
        self.serial = serial
        self.validAfter = validAfter
        self.validBefore = validBefore
    }
}

/// The payload of a reply. A failure of any command is ``failure(_:)``.
package enum ReplyPayload: Sendable, Hashable {
    case machine(MachineDetails)
    case removed(RemovalResult)
    case precheck(PreCreateCheckResult)
    case probe(ProbeResult)
    case states(MachineStates)
    case catalogImages(CatalogImages)
    case catalogSizes(CatalogSizes)
    case catalogLocations(CatalogLocations)
    case sshHostIdentity(HostIdentity)
    case sshUserCredentials(UserCredentials)
    case failure(OperationError)
}

extension ReplyPayload: MessagePayload {
    package static let category = MessageCategory.reply

    package var kind: MessageKind {
        switch self {
        case .machine: .replyMachine
        case .removed: .replyRemoved
        case .precheck: .replyPrecheck
        case .probe: .replyProbe
        case .states: .replyStates
        case .catalogImages: .replyCatalogImages
        case .catalogSizes: .replyCatalogSizes
        case .catalogLocations: .replyCatalogLocations
        case .sshHostIdentity: .replySSHHostIdentity
        case .sshUserCredentials: .replySSHUserCredentials
        case .failure: .replyFailure
        }
    }

    package func encode(to container: inout KeyedEncodingContainer<EnvelopeKey>) throws {
        switch self {
        case .machine(let body): try container.encode(body, forKey: .payload)
        case .removed(let body): try container.encode(body, forKey: .payload)
        case .precheck(let body): try container.encode(body, forKey: .payload)
        case .probe(let body): try container.encode(body, forKey: .payload)
        case .states(let body): try container.encode(body, forKey: .payload)
        case .catalogImages(let body): try container.encode(body, forKey: .payload)
        case .catalogSizes(let body): try container.encode(body, forKey: .payload)
        case .catalogLocations(let body): try container.encode(body, forKey: .payload)
        case .sshHostIdentity(let body): try container.encode(body, forKey: .payload)
        case .sshUserCredentials(let body): try container.encode(body, forKey: .payload)
        case .failure(let body): try container.encode(body, forKey: .payload)
        }
    }

    package init(kind: MessageKind, from container: KeyedDecodingContainer<EnvelopeKey>) throws {
        func body<T: Decodable>(_: T.Type = T.self) throws -> T { try container.decode(T.self, forKey: .payload) }
        switch kind {
        case .replyMachine: self = .machine(try body())
        case .replyRemoved: self = .removed(try body())
        case .replyPrecheck: self = .precheck(try body())
        case .replyProbe: self = .probe(try body())
        case .replyStates: self = .states(try body())
        case .replyCatalogImages: self = .catalogImages(try body())
        case .replyCatalogSizes: self = .catalogSizes(try body())
        case .replyCatalogLocations: self = .catalogLocations(try body())
        case .replySSHHostIdentity: self = .sshHostIdentity(try body())
        case .replySSHUserCredentials: self = .sshUserCredentials(try body())
        case .replyFailure: self = .failure(try body())
        default: throw EnvelopeDecodingError.wrongCategory(kind)
        }
    }
}
