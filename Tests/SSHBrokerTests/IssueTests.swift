import Foundation
import MetricsTestKit
import PazOpenSSH
import PazRedis
import PazSchemas
import PazSSHBroker
import PazStore
import Testing

@Suite("SSH broker: issuing host identities and user credentials over AMQP RPC")
struct IssueTests {
    @Test("ssh.host-identity: a host certificate for the principals, signed by the returned host CA, that ssh-keygen accepts")
    func hostIdentityRoundTrip() async throws {
        let harness = try await BrokerHarness.make(name: "host-identity")
        defer { Task { await harness.stop() } }
        let tenant = try harness.newTenant()
        let machine = MachineRef(clusterId: .random(), machineId: .random())
        let before = UInt64(Date().timeIntervalSince1970)
        let (request, reply) = try await harness.withBroker { _ in
            try await harness.call(
                .sshHostIdentity(HostIdentityRequest(machine: machine, principals: ["web-1", "127.0.0.1"])), tenant: tenant)
        }
        let after = UInt64(Date().timeIntervalSince1970)
        #expect(reply.inReplyTo == request.messageId)
        #expect(reply.tenantId == tenant)
        #expect(reply.trace.traceID == request.trace.traceID)
        guard case .sshHostIdentity(let identity) = reply.payload else {
            Issue.record("expected reply.ssh.host-identity, got \(reply.kind.rawValue)")
            return
        }

        let certificate = try OpenSSHCertificate(line: identity.hostCertificate)
        let hostCA = try OpenSSHPublicKey(line: identity.hostCAPublicKey)
        let userCA = try OpenSSHPublicKey(line: identity.userCAPublicKey)
        let hostKey = try OpenSSHPublicKey(line: identity.hostPublicKey)
        let privateKey = try OpenSSHPrivateKey(openSSHFile: identity.hostPrivateKey.value)
        #expect(certificate.kind == .host)
        #expect(certificate.principals == ["web-1", "127.0.0.1"])
        #expect(certificate.keyID == "\(tenant.rawValue)/\(machine.machineId.rawValue)")
        #expect(certificate.serial != 0)
        #expect(certificate.signatureKey == hostCA)
        #expect(hostCA.algorithm == .ed25519 && userCA.algorithm == .ed25519)
        #expect(hostCA != userCA)
        try certificate.verifySignature()
        #expect(certificate.publicKey == hostKey)
        #expect(privateKey.publicKey == hostKey)
        #expect(hostKey.algorithm == .ed25519)
        // Issued between `before` and `after` (starting the broker may take seconds on a loaded machine).
        #expect(certificate.validAfter >= before - 301 && certificate.validAfter <= after - 299)
        #expect(certificate.validBefore == .max)
        #expect(certificate.isValid())
        #expect(certificate.extensions.isEmpty && certificate.criticalOptions.isEmpty)
        #expect("\(identity.hostPrivateKey)" == "<redacted>")

        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let certificateFile = try writeScratchFile(identity.hostCertificate + "\n", name: "host-cert.pub", in: directory)
        let listed = try sshKeygen(["-L", "-f", certificateFile.path])
        #expect(listed.status == 0, "ssh-keygen -L: \(listed.output)")
        #expect(listed.output.contains("ssh-ed25519-cert-v01@openssh.com host certificate"))
        #expect(listed.output.contains("Serial: \(certificate.serial)"))
        #expect(listed.output.contains("Valid: after "))  // no end: "forever"
        let keyFile = try writeScratchFile(identity.hostPrivateKey.value, name: "host-key", in: directory)
        let derived = try sshKeygen(["-y", "-f", keyFile.path])
        #expect(derived.status == 0, "ssh-keygen -y: \(derived.output)")
        #expect(try OpenSSHPublicKey(line: derived.output) == hostKey)
    }

    @Test("ssh.user-credentials: a user certificate for the principal on an owned machine, signed by the tenant's user CA")
    func userCredentialsForOwnedMachine() async throws {
        let harness = try await BrokerHarness.make(name: "user-credentials", defaultTTLSeconds: 200, maxTTLSeconds: 600)
        defer { Task { await harness.stop() } }
        let tenant = try harness.newTenant()
        let machine = try await harness.seedMachine(tenant: tenant)
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }

        try await harness.withBroker { _ in
            let identity = try await harness.hostIdentity(tenant: tenant, machine: machine.ref)
            let userCA = try OpenSSHPublicKey(line: identity.userCAPublicKey)
            let hostCA = try OpenSSHPublicKey(line: identity.hostCAPublicKey)

            let now = UInt64(Date().timeIntervalSince1970)
            let credentials = try await harness.userCredentials(tenant: tenant, machine: machine.ref, ttlSeconds: 120)
            let after = UInt64(Date().timeIntervalSince1970)
            let certificate = try OpenSSHCertificate(line: credentials.certificate)
            #expect(certificate.kind == .user)
            #expect(certificate.principals == ["paz"])
            #expect(certificate.keyID == "\(tenant.rawValue)/\(machine.id.rawValue)/paz")
            #expect(certificate.signatureKey == userCA)
            try certificate.verifySignature()
            #expect(certificate.serial == credentials.serial && certificate.serial != 0)
            #expect(certificate.validBefore - certificate.validAfter == 120 + 30)
            #expect(certificate.validAfter >= now - 31 && certificate.validBefore <= after + 121)
            #expect(certificate.isValid())
            #expect(Set(certificate.extensions.map(\.name)) == [
                "permit-pty", "permit-port-forwarding", "permit-agent-forwarding", "permit-X11-forwarding", "permit-user-rc",
            ])
            #expect(certificate.criticalOptions.isEmpty)
            #expect(credentials.validAfter == Date(timeIntervalSince1970: TimeInterval(certificate.validAfter)))
            #expect(credentials.validBefore == Date(timeIntervalSince1970: TimeInterval(certificate.validBefore)))
            let key = try OpenSSHPrivateKey(openSSHFile: try #require(credentials.privateKey).value)
            #expect(key.algorithm == .ed25519)
            #expect(key.publicKey == certificate.publicKey)
            #expect(try OpenSSHPublicKey(line: credentials.publicKey) == key.publicKey)
            #expect(credentials.ssh == SSHEndpoint(host: "127.0.0.1", port: 40122, user: "paz"))
            #expect(credentials.knownHostsLine.hasPrefix("@cert-authority [127.0.0.1]:40122,\(machine.name.rawValue) ssh-ed25519 "))
            #expect(try OpenSSHPublicKey(line: String(credentials.knownHostsLine.split(separator: " ", maxSplits: 2)[2])) == hostCA)

            let certificateFile = try writeScratchFile(credentials.certificate + "\n", name: "user-cert.pub", in: directory)
            let listed = try sshKeygen(["-L", "-f", certificateFile.path])
            #expect(listed.status == 0, "ssh-keygen -L: \(listed.output)")
            #expect(listed.output.contains("ssh-ed25519-cert-v01@openssh.com user certificate"))
            #expect(listed.output.contains("permit-pty"))

            // No TTL: the default; more than the maximum: the maximum.
            let byDefault = try OpenSSHCertificate(
                line: try await harness.userCredentials(tenant: tenant, machine: machine.ref).certificate)
            #expect(byDefault.validBefore - byDefault.validAfter == 200 + 30)
            let capped = try OpenSSHCertificate(
                line: try await harness.userCredentials(tenant: tenant, machine: machine.ref, ttlSeconds: 100_000).certificate)
            #expect(capped.validBefore - capped.validAfter == 600 + 30)
            #expect(Set([certificate.serial, byDefault.serial, capped.serial]).count == 3)
        }
    }

    @Test("a given public key is certified and no private key is returned; a bad key line is invalid-argument")
    func givenPublicKey() async throws {
        let harness = try await BrokerHarness.make(name: "given-key")
        defer { Task { await harness.stop() } }
        let tenant = try harness.newTenant()
        let machine = try await harness.seedMachine(tenant: tenant, ssh: SSHEndpoint(host: "127.0.0.1", port: 2222, user: "debian"))
        let own = OpenSSHPrivateKey.generate(.ed25519).publicKey
        try await harness.withBroker { _ in
            let request = UserCredentialsRequest(machine: machine.ref, principal: "debian", publicKey: own.line(comment: "mine"))
            let (_, reply) = try await harness.call(.sshUserCredentials(request), tenant: tenant)
            guard case .sshUserCredentials(let credentials) = reply.payload else {
                Issue.record("expected credentials, got \(reply.kind.rawValue)")
                return
            }
            #expect(credentials.privateKey == nil)
            let certificate = try OpenSSHCertificate(line: credentials.certificate)
            #expect(certificate.publicKey == own)
            try certificate.verifySignature()
            let bad = UserCredentialsRequest(machine: machine.ref, principal: "debian", publicKey: "ssh-ed25519 not-base64")
            let failure = try await harness.failure(.sshUserCredentials(bad), tenant: tenant)
            #expect(failure.code == .invalidArgument && failure.field == "publicKey")
        }
    }

    @Test("keyType ecdsa gives an ECDSA P-256 key and certificate; ed25519 and no keyType give Ed25519")
    func keyTypes() async throws {
        let harness = try await BrokerHarness.make(name: "key-types")
        defer { Task { await harness.stop() } }
        let tenant = try harness.newTenant()
        let machine = try await harness.seedMachine(tenant: tenant, ssh: SSHEndpoint(host: "10.1.2.3", port: 22, user: "debian"))
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try await harness.withBroker { _ in
            let ecdsa = try await harness.userCredentials(tenant: tenant, machine: machine.ref, principal: "ops", keyType: .ecdsa)
            let certificate = try OpenSSHCertificate(line: ecdsa.certificate)
            let key = try OpenSSHPrivateKey(openSSHFile: try #require(ecdsa.privateKey).value)
            #expect(key.algorithm == .ecdsaP256)
            #expect(certificate.publicKey == key.publicKey)
            #expect(certificate.typeName == "ecdsa-sha2-nistp256-cert-v01@openssh.com")
            #expect(certificate.signatureKey.algorithm == .ed25519)
            #expect(certificate.principals == ["ops"])
            try certificate.verifySignature()
            #expect(ecdsa.ssh == SSHEndpoint(host: "10.1.2.3", port: 22, user: "ops"))
            #expect(ecdsa.knownHostsLine.hasPrefix("@cert-authority 10.1.2.3,\(machine.name.rawValue) ssh-ed25519 "))
            let certificateFile = try writeScratchFile(ecdsa.certificate + "\n", name: "ecdsa-cert.pub", in: directory)
            let listed = try sshKeygen(["-L", "-f", certificateFile.path])
            #expect(listed.status == 0, "ssh-keygen -L: \(listed.output)")
            let keyFile = try writeScratchFile(try #require(ecdsa.privateKey).value, name: "ecdsa-key", in: directory)
            let derived = try sshKeygen(["-y", "-f", keyFile.path])
            #expect(derived.status == 0, "ssh-keygen -y: \(derived.output)")
            #expect(try OpenSSHPublicKey(line: derived.output) == key.publicKey)

            for keyType in [SSHKeyType.ed25519, nil] {
                let credentials = try await harness.userCredentials(tenant: tenant, machine: machine.ref, keyType: keyType)
                #expect(try OpenSSHPrivateKey(openSSHFile: try #require(credentials.privateKey).value).algorithm == .ed25519)
            }
        }
    }

    @Test("another tenant's machine, a missing machine or a wrong cluster: not-found, and nothing is audited")
    func otherTenantsMachine() async throws {
        let harness = try await BrokerHarness.make(name: "other-tenant")
        defer { Task { await harness.stop() } }
        let owner = try harness.newTenant()
        let intruder = try harness.newTenant()
        let machine = try await harness.seedMachine(tenant: owner)
        try await harness.withBroker { _ in
            let stolen = try await harness.failure(.sshUserCredentials(harness.userRequest(machine.ref)), tenant: intruder)
            #expect(stolen.code == .notFound)
            #expect(!stolen.retriable)
            let missing = try await harness.failure(
                .sshUserCredentials(harness.userRequest(MachineRef(clusterId: machine.clusterId, machineId: .random()))),
                tenant: owner)
            #expect(missing.code == .notFound)
            let wrongCluster = try await harness.failure(
                .sshUserCredentials(harness.userRequest(MachineRef(clusterId: .random(), machineId: machine.id))), tenant: owner)
            #expect(wrongCluster.code == .notFound)
            // The same message for a machine of another tenant as for one that does not exist.
            #expect(stolen.message.contains(machine.id.rawValue) && !stolen.message.contains(owner.rawValue))
        }
        #expect(try await harness.auditEntries(tenant: intruder).isEmpty)
        #expect(try await harness.auditEntries(tenant: owner).isEmpty)
        #expect(try await harness.redis.exists([StoreKeys.sshCertificateAuthorities(intruder)]) == 0)
    }

    @Test("a machine without an SSH endpoint, bad principals and a bad TTL get typed failures")
    func refusals() async throws {
        let harness = try await BrokerHarness.make(name: "refusals")
        defer { Task { await harness.stop() } }
        let tenant = try harness.newTenant()
        let pending = try await harness.seedMachine(tenant: tenant, ssh: nil)
        let ready = try await harness.seedMachine(tenant: tenant)
        try await harness.withBroker { _ in
            let noEndpoint = try await harness.failure(.sshUserCredentials(harness.userRequest(pending.ref)), tenant: tenant)
            #expect(noEndpoint.code == .conflict)
            #expect(noEndpoint.message.contains("no SSH endpoint yet"))
            for principal in ["", "two words", "a,b", "tab\there", String(repeating: "x", count: 256)] {
                let failure = try await harness.failure(
                    .sshUserCredentials(harness.userRequest(ready.ref, principal)), tenant: tenant)
                #expect(failure.code == .invalidArgument && failure.field == "principal", "principal \(principal.debugDescription)")
            }
            for ttl in [0, -5] {
                let failure = try await harness.failure(
                    .sshUserCredentials(harness.userRequest(ready.ref, "paz", ttl)), tenant: tenant)
                #expect(failure.code == .invalidArgument && failure.field == "ttlSeconds")
            }
            let noPrincipals = try await harness.failure(
                .sshHostIdentity(HostIdentityRequest(machine: ready.ref, principals: [])), tenant: tenant)
            #expect(noPrincipals.code == .invalidArgument && noPrincipals.field == "principals")
            let blank = try await harness.failure(
                .sshHostIdentity(HostIdentityRequest(machine: ready.ref, principals: ["web-1", "bad name"])), tenant: tenant)
            #expect(blank.code == .invalidArgument && blank.field == "principals[1]")
        }
        #expect(try await harness.auditEntries(tenant: tenant).isEmpty)
    }

    @Test("issued certificates are counted per kind and timed")
    func metrics() async throws {
        let harness = try await BrokerHarness.make(name: "metrics")
        defer { Task { await harness.stop() } }
        let tenant = try harness.newTenant()
        let machine = try await harness.seedMachine(tenant: tenant)
        try await harness.withBroker { _ in
            _ = try await harness.hostIdentity(tenant: tenant, machine: machine.ref)
            _ = try await harness.userCredentials(tenant: tenant, machine: machine.ref)
            _ = try await harness.userCredentials(tenant: tenant, machine: machine.ref, keyType: .ecdsa)
            _ = try await harness.failure(.sshUserCredentials(harness.userRequest(machine.ref, "")), tenant: tenant)
        }
        #expect(harness.counter(BrokerMetrics.certificatesIssued, [("kind", "host")]) == 1)
        #expect(harness.counter(BrokerMetrics.certificatesIssued, [("kind", "user")]) == 2)
        #expect(try harness.metrics.expectTimer(BrokerMetrics.issueDuration, [("kind", "user")]).values.count == 2)
        #expect(harness.counter(BrokerMetrics.requests, [("command", "ssh.user-credentials"), ("outcome", "issued")]) == 2)
        #expect(harness.counter(BrokerMetrics.requests, [("command", "ssh.user-credentials"), ("outcome", "failed")]) == 1)
        #expect(harness.counter(BrokerMetrics.authoritiesCreated) == 1)
    }
}
