import Foundation
import PazRedis
import PazSchemas
import PazStore

/// One issued certificate, as written to the tenant's audit stream. Public facts only: the
/// certificate's identity and validity and the fingerprints of the certified key and the CA.
struct AuditEntry: Sendable {
    /// `host-identity` or `user-credentials` (the command that asked).
    var kind: MessageKind
    var machine: MachineRef
    var principals: [String]
    var serial: UInt64
    var keyID: String
    /// Fingerprint of the certified (ephemeral or host) public key.
    var fingerprint: String
    /// `ssh-ed25519` or `ecdsa-sha2-nistp256`.
    var keyAlgorithm: String
    /// Fingerprint of the CA key that signed.
    var caFingerprint: String
    var validAfter: UInt64
    var validBefore: UInt64
    var at: Date
    /// The request's message id and trace id, to find the request in logs.
    var messageID: MessageID
    var traceID: String

    /// The stream entry's fields (sorted when written).
    var fields: [String: RedisArgument] {
        [
            "kind": RedisArgument(kind.rawValue),
            "cluster": RedisArgument(machine.clusterId.rawValue),
            "machine": RedisArgument(machine.machineId.rawValue),
            "principals": RedisArgument(principals.joined(separator: ",")),
            "serial": RedisArgument(String(serial)),
            "keyId": RedisArgument(keyID),
            "fingerprint": RedisArgument(fingerprint),
            "keyType": RedisArgument(keyAlgorithm),
            "caFingerprint": RedisArgument(caFingerprint),
            "validAfter": RedisArgument(Self.format(validAfter)),
            "validBefore": RedisArgument(Self.format(validBefore)),
            "at": RedisArgument(Timestamp.format(at)),
            "messageId": RedisArgument(messageID.rawValue),
            "traceId": RedisArgument(traceID),
        ]
    }

    /// A certificate time as a timestamp; `forever` for OpenSSH's "no end" (`UInt64.max`).
    static func format(_ seconds: UInt64) -> String {
        seconds == .max ? "forever" : Timestamp.format(Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}

/// A request the broker refused because its sender may not ask for it, as written to the tenant's
/// audit stream (field `outcome` = `refused`; entries of issued certificates have no `outcome`).
struct RefusalEntry: Sendable {
    var kind: MessageKind
    var machine: MachineRef
    /// The AMQP `user-id` of the request, or nil when it had none.
    var sender: String?
    var reason: String
    var at: Date
    var messageID: MessageID
    var traceID: String

    var fields: [String: RedisArgument] {
        [
            "kind": RedisArgument(kind.rawValue),
            "outcome": "refused",
            "sender": RedisArgument(sender ?? "(none)"),
            "cluster": RedisArgument(machine.clusterId.rawValue),
            "machine": RedisArgument(machine.machineId.rawValue),
            "reason": RedisArgument(reason),
            "at": RedisArgument(Timestamp.format(at)),
            "messageId": RedisArgument(messageID.rawValue),
            "traceId": RedisArgument(traceID),
        ]
    }
}

/// Appends to `paz:t:<tenant>:ssh-audit` (``PazStore/StoreKeys/sshAudit(_:)``) with
/// `XADD … MAXLEN ~ 100000`. An issue is audited before its reply is sent; when the write fails
/// the request fails and nothing is handed out.
struct AuditLog: Sendable {
    let redis: RedisClient

    /// Appends `entry`; returns the stream entry id.
    @discardableResult
    func append(_ entry: AuditEntry, tenant: TenantID) async throws(BrokerError) -> String {
        try await append(fields: entry.fields, tenant: tenant)
    }

    /// Appends a refusal; returns the stream entry id.
    @discardableResult
    func append(refusal: RefusalEntry, tenant: TenantID) async throws(BrokerError) -> String {
        try await append(fields: refusal.fields, tenant: tenant)
    }

    private func append(fields: [String: RedisArgument], tenant: TenantID) async throws(BrokerError) -> String {
        do {
            return try await redis.xadd(StoreKeys.sshAudit(tenant), fields: fields, maxLength: StoreKeys.sshAuditMaxLength)
        } catch {
            throw .store(.redis(error))
        }
    }
}
