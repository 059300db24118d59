import Foundation
import Logging
package import PazOpenSSH
package import PazSchemas
import PazStore

/// Makes what the two RPCs hand out: keys, certificates signed by the tenant's CAs, and the audit
/// entry of each (written before the answer leaves the broker).
package struct CertificateIssuer: Sendable {
    /// Extensions of every user certificate (what `ssh-keygen -s` grants by default).
    package static let userExtensions: [OpenSSHCertificate.Option] = [
        .permitPTY, .permitPortForwarding, .permitAgentForwarding, .permitX11Forwarding, .permitUserRC,
    ]
    /// How far back a user certificate's validity starts (clock skew between broker and machine).
    package static let userBackdate: UInt64 = 30
    /// How far back a host certificate's validity starts.
    package static let hostBackdate: UInt64 = 300
    /// At most this many principals in a host certificate.
    package static let maxPrincipals = 256

    let store: Store
    let authorities: CertificateAuthorities
    let audit: AuditLog
    let configuration: BrokerConfiguration
    let metrics: BrokerMetrics

    /// Who asked: for authorization, audit entries and log lines.
    struct Request: Sendable {
        let tenant: TenantID
        let messageID: MessageID
        let trace: TraceContext
        /// The AMQP `user-id` of the request (RabbitMQ verified it against the sender's connection).
        let sender: String?
        let logger: Logger
    }

    // MARK: Authorization

    /// Throws ``BrokerError/senderNotAllowed(sender:command:reason:)`` unless the sender may ask for
    /// a host identity: a driver, for a machine of the request's tenant and cluster that uses that
    /// driver and is being created (its record has no details yet). No-op unless
    /// ``BrokerConfiguration/authorizeSenders``.
    private func authorizeHostIdentity(_ body: HostIdentityRequest, request: Request) async throws(BrokerError) {
        guard configuration.authorizeSenders else { return }
        guard case .driver(let driver) = request.sender.flatMap(ServiceKind.init(userName:)) else {
            throw .senderNotAllowed(
                sender: request.sender, command: .sshHostIdentity, reason: "only driver services (paz-driver-<name>) get host identities")
        }
        let machine: MachineRecord?
        do {
            machine = try await store.machine(body.machine.machineId, tenant: request.tenant)
        } catch {
            throw .store(error)
        }
        guard let machine, machine.clusterId == body.machine.clusterId, machine.driver == driver, machine.details == nil else {
            throw .senderNotAllowed(
                sender: request.sender, command: .sshHostIdentity,
                reason: "tenant \(request.tenant) has no machine \(body.machine.machineId) in cluster \(body.machine.clusterId) "
                    + "that driver \(driver) is creating; a driver gets host identities only while it creates its own machines")
        }
    }

    /// Throws ``BrokerError/senderNotAllowed(sender:command:reason:)`` unless the sender is the
    /// gateway (which checked the tenant's token) or the driver of `machine` (for its own logins:
    /// readiness checks and probes; it controls that machine already, so a certificate gives it no
    /// new reach). No-op unless ``BrokerConfiguration/authorizeSenders``.
    private func authorizeUserCredentials(machine: MachineRecord?, request: Request) throws(BrokerError) {
        guard configuration.authorizeSenders else { return }
        switch request.sender.flatMap(ServiceKind.init(userName:)) {
        case .gateway:
            return
        case .driver(let driver):
            guard let machine, machine.driver == driver else {
                throw .senderNotAllowed(
                    sender: request.sender, command: .sshUserCredentials,
                    reason: "driver \(driver) gets user certificates only for machines of its own")
            }
        default:
            throw .senderNotAllowed(
                sender: request.sender, command: .sshUserCredentials,
                reason: "only the gateway (\(ServiceKind.gateway.userName)) and a machine's own driver get user certificates")
        }
    }

    /// Writes a refusal to the tenant's audit stream (no key material), then rethrows it. A failed
    /// audit write is logged: the refusal stands either way.
    func refuse(_ error: BrokerError, machine: MachineRef, request: Request) async -> BrokerError {
        guard case .senderNotAllowed(let sender, let command, let reason) = error else { return error }
        let entry = RefusalEntry(
            kind: command, machine: machine, sender: sender, reason: reason, at: Date(), messageID: request.messageID,
            traceID: request.trace.traceID)
        do {
            try await audit.append(refusal: entry, tenant: request.tenant)
        } catch {
            request.logger.error("Could not audit a refused request", metadata: ["error": "\(error)"])
        }
        return error
    }

    // MARK: ssh.host-identity

    /// A fresh Ed25519 host key and a host certificate for `principals` (key id `<tenant>/<machine>`,
    /// random serial, valid from 5 minutes ago forever), signed by the tenant's host CA; with both CA
    /// public keys, for the driver to install on the machine.
    func hostIdentity(_ body: HostIdentityRequest, request: Request) async throws(BrokerError) -> HostIdentity {
        let clock = ContinuousClock()
        let started = clock.now
        do {
            try await authorizeHostIdentity(body, request: request)
        } catch {
            throw await refuse(error, machine: body.machine, request: request)
        }
        guard !body.principals.isEmpty else {
            throw .invalidArgument(field: "principals", message: "a host certificate needs at least one principal (a name or address of the host)")
        }
        guard body.principals.count <= Self.maxPrincipals else {
            throw .invalidArgument(field: "principals", message: "at most \(Self.maxPrincipals) principals, got \(body.principals.count)")
        }
        for (index, principal) in body.principals.enumerated() where !Self.isValidPrincipal(principal) {
            throw .invalidArgument(
                field: "principals[\(index)]",
                message: "principal \"\(principal.prefix(64))\" must be 1-255 printable characters without blanks or commas")
        }
        let cas = try await authorities.authorities(for: request.tenant)
        let key = OpenSSHPrivateKey.generate(.ed25519)
        let keyID = "\(request.tenant.rawValue)/\(body.machine.machineId.rawValue)"
        let now = Self.now()
        let fields = OpenSSHCertificate.Fields(
            kind: .host, publicKey: key.publicKey, keyID: keyID, principals: body.principals,
            validAfter: now - Self.hostBackdate, validBefore: .max, serial: Self.randomSerial())
        let certificate = try sign(fields, with: cas.host)
        try await record(certificate, kind: .sshHostIdentity, machine: body.machine, ca: cas.host, request: request)
        metrics.issued(.host, duration: clock.now - started)
        log(certificate, kind: .host, machine: body.machine, request: request)
        return HostIdentity(
            hostPrivateKey: SecretText(key.openSSHFile(comment: keyID)), hostPublicKey: key.publicKey.line(comment: keyID),
            hostCertificate: certificate.line(comment: keyID), hostCAPublicKey: cas.hostPublicKeyLine,
            userCAPublicKey: cas.userPublicKeyLine)
    }

    // MARK: ssh.user-credentials

    /// An ephemeral key of the requested type and a user certificate for `principal` on a machine
    /// the tenant owns, valid from 30 s ago for the requested TTL (default and cap from the
    /// configuration), plus the `@cert-authority` line that makes the client trust the host.
    func userCredentials(_ body: UserCredentialsRequest, request: Request) async throws(BrokerError) -> UserCredentials {
        let clock = ContinuousClock()
        let started = clock.now
        let machine: MachineRecord?
        do {
            machine = try await store.machine(body.machine.machineId, tenant: request.tenant)
        } catch {
            throw .store(error)
        }
        do {
            try authorizeUserCredentials(machine: machine, request: request)
        } catch {
            throw await refuse(error, machine: body.machine, request: request)
        }
        guard Self.isValidPrincipal(body.principal) else {
            throw .invalidArgument(
                field: "principal", message: "principal must be a login name: 1-255 printable characters without blanks or commas")
        }
        if let ttl = body.ttlSeconds, ttl < 1 {
            throw .invalidArgument(field: "ttlSeconds", message: "ttlSeconds must be at least 1, got \(ttl)")
        }
        // Another tenant's machine is not found either: the tenant's own hash is the only place looked.
        guard let machine, machine.clusterId == body.machine.clusterId else { throw .machineNotFound(body.machine) }
        guard let endpoint = machine.details?.ssh ?? body.endpoint else { throw .noSSHEndpoint(body.machine) }

        let cas = try await authorities.authorities(for: request.tenant)
        let knownHostsLine: String
        do {
            knownHostsLine = try cas.host.publicKey.knownHostsCertAuthorityLine(
                hostPatterns: [Self.hostPattern(endpoint), machine.name.rawValue], comment: "paz-host-ca:\(request.tenant.rawValue)")
        } catch {
            throw .openSSH(error)
        }
        let algorithm: OpenSSHKeyAlgorithm = body.keyType == .ecdsa ? .ecdsaP256 : .ed25519
        let key: OpenSSHPrivateKey? = body.publicKey == nil ? OpenSSHPrivateKey.generate(algorithm) : nil
        let certified: OpenSSHPublicKey
        if let line = body.publicKey {
            do {
                certified = try OpenSSHPublicKey(line: line)
            } catch {
                throw .invalidArgument(field: "publicKey", message: "publicKey is not an Ed25519 or ECDSA P-256 OpenSSH public key line: \(error)")
            }
        } else {
            certified = key!.publicKey
        }
        let keyID = "\(request.tenant.rawValue)/\(body.machine.machineId.rawValue)/\(body.principal)"
        let now = Self.now()
        let ttl = UInt64(configuration.userCertificateTTL(requested: body.ttlSeconds))
        let fields = OpenSSHCertificate.Fields(
            kind: .user, publicKey: certified, keyID: keyID, principals: [body.principal],
            validAfter: now - Self.userBackdate, validBefore: now + ttl, serial: Self.randomSerial(),
            extensions: Self.userExtensions)
        let certificate = try sign(fields, with: cas.user)
        try await record(certificate, kind: .sshUserCredentials, machine: body.machine, ca: cas.user, request: request)
        metrics.issued(.user, duration: clock.now - started)
        log(certificate, kind: .user, machine: body.machine, request: request)
        return UserCredentials(
            ssh: SSHEndpoint(host: endpoint.host, port: endpoint.port, user: body.principal),
            privateKey: key.map { SecretText($0.openSSHFile(comment: keyID)) }, publicKey: certified.line(comment: keyID),
            certificate: certificate.line(comment: keyID), knownHostsLine: knownHostsLine, serial: fields.serial,
            validAfter: Date(timeIntervalSince1970: TimeInterval(fields.validAfter)),
            validBefore: Date(timeIntervalSince1970: TimeInterval(fields.validBefore)))
    }

    // MARK: Helpers

    private func sign(_ fields: OpenSSHCertificate.Fields, with ca: OpenSSHPrivateKey) throws(BrokerError) -> OpenSSHCertificate {
        do {
            return try OpenSSHCertificate.sign(fields, with: ca)
        } catch {
            throw .openSSH(error)
        }
    }

    private func record(
        _ certificate: OpenSSHCertificate, kind: MessageKind, machine: MachineRef, ca: OpenSSHPrivateKey, request: Request
    ) async throws(BrokerError) {
        let entry = AuditEntry(
            kind: kind, machine: machine, principals: certificate.principals, serial: certificate.serial,
            keyID: certificate.keyID, fingerprint: certificate.publicKey.fingerprint,
            keyAlgorithm: certificate.publicKey.algorithm.name, caFingerprint: ca.publicKey.fingerprint,
            validAfter: certificate.validAfter, validBefore: certificate.validBefore, at: Date(),
            messageID: request.messageID, traceID: request.trace.traceID)
        try await audit.append(entry, tenant: request.tenant)
    }

    private func log(
        _ certificate: OpenSSHCertificate, kind: BrokerMetrics.CertificateKind, machine: MachineRef, request: Request
    ) {
        request.logger.info("Issued an SSH \(kind.rawValue) certificate", metadata: [
            "machine.id": "\(machine.machineId.rawValue)", "cluster.id": "\(machine.clusterId.rawValue)",
            "cert.kind": "\(kind.rawValue)", "cert.serial": "\(certificate.serial)", "cert.id": "\(certificate.keyID)",
            "cert.principals": "\(certificate.principals.joined(separator: ","))",
            "cert.fingerprint": "\(certificate.publicKey.fingerprint)",
            "cert.validAfter": "\(AuditEntry.format(certificate.validAfter))",
            "cert.validBefore": "\(AuditEntry.format(certificate.validBefore))",
        ])
    }

    /// The known_hosts pattern of an endpoint: `host` on port 22, else `[host]:port`.
    package static func hostPattern(_ endpoint: SSHEndpoint) -> String {
        endpoint.port == 22 ? endpoint.host : "[\(endpoint.host)]:\(endpoint.port)"
    }

    /// 1-255 printable ASCII or non-ASCII characters, none of them blank, control or comma (a comma
    /// separates principals in sshd's `AuthorizedPrincipals` and in the audit entry).
    package static func isValidPrincipal(_ principal: String) -> Bool {
        guard !principal.isEmpty, principal.utf8.count <= 255 else { return false }
        return principal.unicodeScalars.allSatisfy { scalar in
            scalar.value > 0x20 && scalar.value != 0x7f && scalar != "," && !scalar.properties.isWhitespace
                && scalar.properties.generalCategory != .control
        }
    }

    /// A random serial, never 0 (0 means "not numbered" to OpenSSH).
    static func randomSerial() -> UInt64 { UInt64.random(in: 1...UInt64.max) }

    /// Now, in whole seconds since 1970.
    static func now() -> UInt64 { UInt64(Date().timeIntervalSince1970) }
}
