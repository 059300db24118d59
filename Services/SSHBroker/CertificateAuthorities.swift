import Foundation
package import Logging
package import PazOpenSSH
package import PazRedis
package import PazSchemas
package import PazSecrets
import PazStore

/// One tenant's two certificate authorities: the user CA (signs login certificates; sshd trusts it
/// through `TrustedUserCAKeys`) and the host CA (signs host certificates; clients trust it through a
/// `@cert-authority` known_hosts line). Both Ed25519. Its description shows fingerprints only.
package struct TenantAuthorities: Sendable, CustomStringConvertible {
    package let tenant: TenantID
    /// Signs user certificates. Never logged, never sent.
    package let user: OpenSSHPrivateKey
    /// Signs host certificates. Never logged, never sent.
    package let host: OpenSSHPrivateKey

    /// The user CA's public key line (`ssh-ed25519 AAAA… paz-user-ca:<tenant>`).
    package var userPublicKeyLine: String { user.publicKey.line(comment: "paz-user-ca:\(tenant.rawValue)") }
    /// The host CA's public key line (`ssh-ed25519 AAAA… paz-host-ca:<tenant>`).
    package var hostPublicKeyLine: String { host.publicKey.line(comment: "paz-host-ca:\(tenant.rawValue)") }

    package var description: String {
        "SSH CAs of \(tenant): user \(user.publicKey.fingerprint), host \(host.publicKey.fingerprint)"
    }
}

/// The per-tenant CAs, created on first use and kept in Redis sealed with the master key.
///
/// Layout (``PazStore/StoreKeys/sshCertificateAuthorities(_:)``, one hash per tenant):
/// - `sealed` — ``SecretBox`` of a JSON document holding both private keys as OpenSSH private key
///   files, sealed with the hash's key name as context (a blob copied to another tenant does not open);
/// - `user.pub`, `host.pub` — the public key lines, for readers without the master key;
/// - `createdAt` — when the first replica created them.
///
/// Creation is race-free across replicas: each generates a candidate pair and writes it with
/// `HSETNX`; whatever won is read back and used by all. Private keys exist in clear only in this
/// process's memory (cached per tenant after the first load), never in logs or replies.
package actor CertificateAuthorities {
    private let redis: RedisClient
    private let secretBox: SecretBox
    private let metrics: BrokerMetrics
    private let logger: Logger
    private var loads: [TenantID: Task<Result<TenantAuthorities, BrokerError>, Never>] = [:]

    package init(redis: RedisClient, secretBox: SecretBox, metrics: BrokerMetrics, logger: Logger) {
        self.redis = redis
        self.secretBox = secretBox
        self.metrics = metrics
        self.logger = logger
    }

    /// The tenant's CAs: from memory, else from Redis, else newly created. Concurrent callers for
    /// one tenant share one load; a failed load is forgotten, so the next call tries again.
    package func authorities(for tenant: TenantID) async throws(BrokerError) -> TenantAuthorities {
        let task: Task<Result<TenantAuthorities, BrokerError>, Never>
        if let existing = loads[tenant] {
            task = existing
        } else {
            let (redis, secretBox, metrics, logger) = (redis, secretBox, metrics, logger)
            task = Task {
                await Self.loadOrCreate(tenant: tenant, redis: redis, secretBox: secretBox, metrics: metrics, logger: logger)
            }
            loads[tenant] = task
        }
        let result = await task.value
        if case .failure = result, loads[tenant] == task { loads[tenant] = nil }
        return try result.get()
    }

    /// The document sealed under the `sealed` field.
    private struct SealedDocument: Codable {
        var version: Int
        var user: String
        var host: String
    }

    private static let sealedField = "sealed"
    private static let userPublicField = "user.pub"
    private static let hostPublicField = "host.pub"
    private static let createdAtField = "createdAt"

    private static func loadOrCreate(
        tenant: TenantID, redis: RedisClient, secretBox: SecretBox, metrics: BrokerMetrics, logger: Logger
    ) async -> Result<TenantAuthorities, BrokerError> {
        let key = StoreKeys.sshCertificateAuthorities(tenant)
        do throws(BrokerError) {
            var stored = try await run { () async throws(RedisError) in try await redis.hgetall(key) }
            if stored[sealedField] == nil {
                let candidate = TenantAuthorities(tenant: tenant, user: .generate(.ed25519), host: .generate(.ed25519))
                let sealed = try seal(candidate, key: key, secretBox: secretBox)
                let won = try await run { () async throws(RedisError) in
                    try await redis.command(
                        ["HSETNX", RedisArgument(key), RedisArgument(sealedField), RedisArgument(sealed)]
                    ).integer == 1
                }
                if won {
                    metrics.authoritiesCreated()
                    logger.info("Created the tenant's SSH certificate authorities", metadata: [
                        "tenant.id": "\(tenant.rawValue)", "ca.user.fingerprint": "\(candidate.user.publicKey.fingerprint)",
                        "ca.host.fingerprint": "\(candidate.host.publicKey.fingerprint)",
                    ])
                }
                // Read back what won (ours, or another replica's written meanwhile).
                stored = try await run { () async throws(RedisError) in try await redis.hgetall(key) }
            }
            guard let sealed = stored[sealedField] else {
                throw .corruptAuthorities(tenant: tenant, reason: "the sealed field vanished right after it was written")
            }
            let authorities = try open(sealed, key: key, tenant: tenant, secretBox: secretBox)
            // The public lines follow the winner; written by whoever sees them missing (idempotent).
            if stored[userPublicField] != authorities.userPublicKeyLine
                || stored[hostPublicField] != authorities.hostPublicKeyLine
            {
                var fields: [String: RedisArgument] = [
                    userPublicField: RedisArgument(authorities.userPublicKeyLine),
                    hostPublicField: RedisArgument(authorities.hostPublicKeyLine),
                ]
                if stored[createdAtField] == nil { fields[createdAtField] = RedisArgument(Timestamp.format(Date())) }
                _ = try await run { () async throws(RedisError) in try await redis.hset(key, fields: fields) }
            }
            return .success(authorities)
        } catch {
            logger.error("Could not load the tenant's SSH certificate authorities", metadata: [
                "tenant.id": "\(tenant.rawValue)", "error": "\(error)",
            ])
            return .failure(error)
        }
    }

    private static func seal(_ authorities: TenantAuthorities, key: String, secretBox: SecretBox) throws(BrokerError) -> String {
        let document = SealedDocument(
            version: 1, user: authorities.user.openSSHFile(comment: "paz-user-ca"),
            host: authorities.host.openSSHFile(comment: "paz-host-ca"))
        let plaintext: [UInt8]
        do {
            plaintext = Array(try JSONEncoder().encode(document))
        } catch {
            throw .corruptAuthorities(tenant: authorities.tenant, reason: "could not encode the CA document")
        }
        do {
            return try secretBox.seal(plaintext, context: key)
        } catch {
            throw .secret(error)
        }
    }

    private static func open(
        _ sealed: String, key: String, tenant: TenantID, secretBox: SecretBox
    ) throws(BrokerError) -> TenantAuthorities {
        let plaintext: [UInt8]
        do {
            plaintext = try secretBox.open(sealed, context: key)
        } catch {
            throw .secret(error)
        }
        let document: SealedDocument
        do {
            document = try JSONDecoder().decode(SealedDocument.self, from: Data(plaintext))
        } catch {
            throw .corruptAuthorities(tenant: tenant, reason: "the sealed CA document is not JSON of version 1")
        }
        guard document.version == 1 else {
            throw .corruptAuthorities(tenant: tenant, reason: "the sealed CA document has version \(document.version)")
        }
        let user: OpenSSHPrivateKey
        let host: OpenSSHPrivateKey
        do throws(OpenSSHError) {
            user = try OpenSSHPrivateKey(openSSHFile: document.user)
            host = try OpenSSHPrivateKey(openSSHFile: document.host)
        } catch {
            throw .corruptAuthorities(tenant: tenant, reason: "a stored CA key does not parse")
        }
        guard user.algorithm == .ed25519, host.algorithm == .ed25519 else {
            throw .corruptAuthorities(tenant: tenant, reason: "a stored CA key is not Ed25519")
        }
        return TenantAuthorities(tenant: tenant, user: user, host: host)
    }

    private static func run<T>(_ body: () async throws(RedisError) -> T) async throws(BrokerError) -> T {
        do {
            return try await body()
        } catch {
            throw .store(.redis(error))
        }
    }
}
