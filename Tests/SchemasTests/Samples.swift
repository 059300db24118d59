import Foundation
import PazSchemas
import Testing

/// One golden fixture: the file under Fixtures/ and the value it must decode to (and encode from).
struct GoldenSample: Sendable, CustomTestStringConvertible {
    let message: Message
    /// Fixture file name: the kind plus `.json`.
    var fileName: String { message.kind.rawValue + ".json" }
    var testDescription: String { message.kind.rawValue }
}

/// Fixed values so fixtures are stable.
enum Sample {
    static let tenant: TenantID = "t-acme"
    static let operation: OperationID = "op-7f3a9c41"
    static let idempotencyKey: IdempotencyKey = "create-web-2026-11-22"
    static let trace = TraceContext(
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", tracestate: "paz=gw1")!
    static let replyTrace = TraceContext(traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-01")!
    static let createdAt = Timestamp.parse("2026-11-22T04:25:00.123Z")!
    static let observedAt = Timestamp.parse("2026-11-22T04:25:41.907Z")!
    static let cluster: ClusterID = "c-web"
    static let machine = MachineRef(clusterId: "c-web", machineId: "m-web-1")
    static let machine2 = MachineRef(clusterId: "c-web", machineId: "m-web-2")
    static let commandId: MessageID = "msg-cmd-0001"

    static let create = MachineCreate(
        driver: "qemu", clusterId: cluster, clusterName: "web", machineId: "m-web-1", machineName: "web-1",
        size: "small", image: "debian-12-genericcloud", location: "local",
        options: ["accel": "tcg", "disk-gib": 10, "cloud-init": ["packages": ["nginx"]], "headless": true],
        sshTrust: SSHTrust(
            userCAPublicKey:
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl paz-user-ca",
            hostCAPublicKey:
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb5kXq0j3yUQb3nmb9gPFqnI0Tq1JOvqVNPz1ay0lUx paz-host-ca"))

    static func command(_ payload: CommandPayload, operation: OperationID? = operation) -> Message {
        .command(
            CommandEnvelope(
                messageId: commandId, tenantId: tenant, operationId: operation,
                idempotencyKey: operation == nil ? nil : idempotencyKey, trace: trace, createdAt: createdAt,
                payload: payload))
    }

    static func reply(_ payload: ReplyPayload) -> Message {
        .reply(
            ReplyEnvelope(
                messageId: "msg-reply-0001", tenantId: tenant, operationId: operation, idempotencyKey: idempotencyKey,
                inReplyTo: commandId, trace: replyTrace, createdAt: observedAt, payload: payload))
    }

    static func event(_ payload: EventPayload, tenant: TenantID? = tenant, operation: OperationID? = operation)
        -> Message
    {
        .event(
            EventEnvelope(
                messageId: "msg-event-0001", tenantId: tenant, operationId: operation, trace: replyTrace,
                createdAt: observedAt, payload: payload))
    }

    static let details = MachineDetails(
        machine: machine, state: .running, observedAt: observedAt, providerId: "qemu-c-web-m-web-1",
        addresses: [
            MachineAddress(address: "127.0.0.1", scope: .public),
            MachineAddress(address: "10.77.0.11", scope: .private),
        ],
        ssh: SSHEndpoint(host: "127.0.0.1", port: 40122, user: "paz"), size: "small", image: "debian-12-genericcloud",
        location: "local", providerResources: ["overlay": "m-web-1.qcow2", "seed": "m-web-1-seed.iso"])

    static let commands: [Message] = [
        command(.machineCreate(create)),
        command(.machinePrecheck(PreCreateCheck(machines: [create]))),
        command(.machineRemove(MachineAction(machine: machine))),
        command(.machineStart(MachineAction(machine: machine, timeoutSeconds: 300))),
        command(.machineStop(MachineAction(machine: machine, timeoutSeconds: 60))),
        command(.machineRestart(MachineAction(machine: machine))),
        command(.machineKill(MachineAction(machine: machine))),
        command(.machineProbe(MachineAction(machine: machine, timeoutSeconds: 10)), operation: nil),
        command(.machineStates(MachineStatesQuery(machines: [machine, machine2])), operation: nil),
        command(.clusterRemove(ClusterRemove(clusterId: cluster, machineIds: ["m-web-1", "m-web-2"]))),
        command(.catalogImages(CatalogImagesQuery(search: "debian", location: "local")), operation: nil),
        command(.catalogSizes(CatalogSizesQuery()), operation: nil),
        command(.catalogLocations(CatalogLocationsQuery()), operation: nil),
        command(.sshHostIdentity(HostIdentityRequest(machine: machine, principals: ["web-1", "127.0.0.1"]))),
        command(
            .sshUserCredentials(UserCredentialsRequest(machine: machine, principal: "paz", ttlSeconds: 300)),
            operation: nil),
    ]

    static let replies: [Message] = [
        reply(.machine(details)),
        reply(
            .removed(
                RemovalResult(
                    clusterId: cluster, machineIds: ["m-web-1"],
                    removedResources: ["overlay:m-web-1.qcow2", "seed:m-web-1-seed.iso", "port:40122"],
                    alreadyGone: false))),
        reply(.precheck(PreCreateCheckResult(warnings: ["KVM is not usable here; machines will run under TCG"]))),
        reply(
            .probe(
                ProbeResult(
                    machine: machine, reachable: true, observedAt: observedAt, uptimeSeconds: 3712.5,
                    loadAverage: LoadAverage(one: 0.08, five: 0.03, fifteen: 0.01), kernel: "6.1.0-27-cloud-amd64",
                    osRelease: OSRelease(id: "debian", versionId: "12", prettyName: "Debian GNU/Linux 12 (bookworm)"),
                    runningUnits: ["cloud-init.service", "nginx.service", "ssh.service"]))),
        reply(
            .states(
                MachineStates(states: [
                    MachineStateObservation(machine: machine, state: .running, observedAt: observedAt),
                    MachineStateObservation(
                        machine: machine2, state: .notFound, observedAt: observedAt,
                        detail: "no QEMU process and no overlay for this machine"),
                ]))),
        reply(
            .catalogImages(
                CatalogImages(images: [
                    CatalogImage(
                        id: "debian-12-genericcloud", name: "Debian 12 (bookworm) generic cloud",
                        extra: [
                            "url":
                                "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
                            "sha256": "5da221d8f7434ee86145e78a2c60ca45eb4ef8296535e04f6f333193225792aa",
                            "guestConfig": "cloud-init", "architecture": "x86_64",
                        ])
                ]))),
        reply(
            .catalogSizes(
                CatalogSizes(sizes: [
                    CatalogSize(id: "small", name: "Small (1 vCPU, 1 GiB)", vcpus: 1, ramMiB: 1024, diskGiB: 10),
                    CatalogSize(
                        id: "s-2vcpu-4gb", name: "Basic 2 vCPU 4 GB", vcpus: 2, ramMiB: 4096, diskGiB: 80,
                        pricePerHour: 0.03571, currency: "USD", extra: ["transferTiB": 4]),
                ]))),
        reply(
            .catalogLocations(
                CatalogLocations(locations: [
                    CatalogLocation(id: "local", name: "This host", extra: ["accelerators": ["kvm", "tcg"]]),
                    CatalogLocation(id: "fra1", name: "Frankfurt 1", country: "DE"),
                ]))),
        reply(
            .sshHostIdentity(
                HostIdentity(
                    hostPrivateKey: SecretText(
                        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n"
                    ),
                    hostPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBvXh0W9CTJ1mBZs9h7Lz5vbYh9A1hLxbxBf0l2Kkq7C",
                    hostCertificate:
                        "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t",
                    hostCAPublicKey:
                        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb5kXq0j3yUQb3nmb9gPFqnI0Tq1JOvqVNPz1ay0lUx paz-host-ca",
                    userCAPublicKey:
                        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl paz-user-ca"
                ))),
        reply(
            .sshUserCredentials(
                UserCredentials(
                    ssh: SSHEndpoint(host: "127.0.0.1", port: 40122, user: "paz"),
                    privateKey: SecretText(
                        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAB\n-----END OPENSSH PRIVATE KEY-----\n"
                    ),
                    publicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK0dJ8m3y1mVq2S3f4G6s7hKf9d0pL1uV2wX3yZ4aB5c",
                    certificate: "ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQtdjAxQG9wZW5zc2guY29t",
                    knownHostsLine:
                        "@cert-authority 127.0.0.1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGb5kXq0j3yUQb3nmb9gPFqnI0Tq1JOvqVNPz1ay0lUx",
                    serial: 9_007_199_254_740_993, validAfter: createdAt,
                    validBefore: Timestamp.parse("2026-11-22T04:30:00.123Z")!))),
        reply(
            .failure(
                OperationError(
                    code: .quotaExceeded,
                    message:
                        "tenant t-acme may run 50 machines; 49 exist and 3 were requested. Remove machines or ask an admin to raise the quota.",
                    retriable: false, field: "count", details: ["limit": 50, "inUse": 49, "requested": 3]))),
    ]

    static let events: [Message] = [
        event(
            .operation(
                OperationProgress(
                    command: .machineCreate, phase: .running,
                    machines: [
                        MachineProgress(
                            machine: machine, phase: .succeeded, step: "ssh answered", state: .running,
                            details: details),
                        MachineProgress(machine: machine2, phase: .running, step: "waiting for ssh", state: .starting),
                    ]))),
        event(
            .machineState(
                MachineStateChanged(
                    machine: machine, oldState: .running, newState: .stopped, observedAt: observedAt, source: .poll)),
            operation: nil),
        event(
            .driverAnnounce(
                DriverAnnouncement(
                    name: "qemu", version: "0.1.0", instanceId: "build-host-1.4242",
                    capabilities: [
                        .create, .remove, .start, .stop, .restart, .kill, .states, .catalog, .probe, .precheck,
                        .clusterNetwork,
                    ],
                    createOptions: [
                        CreateOptionSpec(
                            name: "accel", type: .string, default: "auto", envVar: "PAZ_QEMU_ACCEL",
                            description: "Accelerator: auto, kvm or tcg"),
                        CreateOptionSpec(
                            name: "disk-gib", type: .integer, default: 10, envVar: "PAZ_QEMU_DISK_GIB",
                            description: "Size of the machine's disk in GiB"),
                        CreateOptionSpec(
                            name: "image-sha256", type: .string, required: false, envVar: "PAZ_QEMU_IMAGE_SHA256",
                            description: "Expected SHA-256 of a custom image URL"),
                        CreateOptionSpec(
                            name: "proxy-password", type: .string, envVar: "PAZ_QEMU_PROXY_PASSWORD",
                            description: "Password of the HTTP proxy used to download images", secret: true),
                    ], ttlSeconds: 15, startedAt: createdAt)),
            tenant: nil, operation: nil),
    ]

    static let all: [GoldenSample] = (commands + replies + events).map(GoldenSample.init(message:))
}

/// Reads fixtures from the test bundle.
enum Fixtures {
    static func url(_ name: String) throws -> URL {
        let base = try #require(Bundle.module.resourceURL).appendingPathComponent("Fixtures")
        return base.appendingPathComponent(name)
    }

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: url(name))
    }

    /// The source copy of a fixture, for recording (`PAZ_RECORD_FIXTURES=1`).
    static func sourceURL(_ name: String, filePath: String = #filePath) -> URL {
        URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
            .appendingPathComponent(name)
    }
}
