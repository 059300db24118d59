import Foundation
@testable import PazOpenSSH
import PazRedis
import PazSchemas
import PazSSHBroker
import PazStore
import Testing

@Suite("SSH broker: audit stream, and no key material at rest or in logs")
struct AuditTests {
    @Test("one audit entry per issue, with its serial, key id and fingerprint")
    func auditEntries() async throws {
        let harness = try await BrokerHarness.make(name: "audit")
        defer { Task { await harness.stop() } }
        let tenant = try harness.newTenant()
        let machine = try await harness.seedMachine(tenant: tenant)
        let (identity, credentials) = try await harness.withBroker { _ in
            let identity = try await harness.hostIdentity(tenant: tenant, machine: machine.ref, principals: ["web-1"])
            var credentials: [UserCredentials] = []
            for keyType in [SSHKeyType.ed25519, .ecdsa] {
                credentials.append(
                    try await harness.userCredentials(tenant: tenant, machine: machine.ref, principal: "ops", keyType: keyType))
            }
            return (identity, credentials)
        }
        let entries = try await harness.auditEntries(tenant: tenant)
        try #require(entries.count == 3)

        let host = try OpenSSHCertificate(line: identity.hostCertificate)
        let hostEntry = entries[0].fields
        #expect(hostEntry["kind"] == "ssh.host-identity")
        #expect(hostEntry["machine"] == machine.id.rawValue)
        #expect(hostEntry["cluster"] == machine.clusterId.rawValue)
        #expect(hostEntry["principals"] == "web-1")
        #expect(hostEntry["serial"] == String(host.serial))
        #expect(hostEntry["keyId"] == host.keyID)
        #expect(hostEntry["fingerprint"] == host.publicKey.fingerprint)
        #expect(hostEntry["caFingerprint"] == (try OpenSSHPublicKey(line: identity.hostCAPublicKey)).fingerprint)
        #expect(hostEntry["validBefore"] == "forever")
        #expect(hostEntry["validAfter"].flatMap(Timestamp.parse) != nil)
        #expect(hostEntry["at"].flatMap(Timestamp.parse) != nil)

        let userCA = try OpenSSHPublicKey(line: identity.userCAPublicKey)
        for (entry, issued) in zip(entries.dropFirst(), credentials) {
            let certificate = try OpenSSHCertificate(line: issued.certificate)
            let fields = entry.fields
            #expect(fields["kind"] == "ssh.user-credentials")
            #expect(fields["principals"] == "ops")
            #expect(fields["serial"] == String(issued.serial))
            #expect(fields["keyId"] == "\(tenant.rawValue)/\(machine.id.rawValue)/ops")
            #expect(fields["fingerprint"] == certificate.publicKey.fingerprint)
            #expect(fields["keyType"] == certificate.publicKey.algorithm.name)
            #expect(fields["caFingerprint"] == userCA.fingerprint)
            #expect(fields["validAfter"].flatMap(Timestamp.parse) == issued.validAfter)
            #expect(fields["validBefore"].flatMap(Timestamp.parse) == issued.validBefore)
            #expect(fields["messageId"] != nil && fields["traceId"]?.count == 32)
        }
        #expect(entries.allSatisfy { !$0.fields.values.contains { $0.contains("PRIVATE KEY") } })
    }

    @Test("no PRIVATE KEY text and no CA private key bytes anywhere in Redis or in the broker's logs")
    func noKeyMaterialAtRestOrInLogs() async throws {
        let harness = try await BrokerHarness.make(name: "no-secrets")
        defer { Task { await harness.stop() } }
        let tenants = try [harness.newTenant(), harness.newTenant()]
        var handedOut: [String] = []
        var authorities: [TenantAuthorities] = []
        for tenant in tenants {
            let machine = try await harness.seedMachine(tenant: tenant)
            try await harness.withBroker { broker in
                let identity = try await harness.hostIdentity(tenant: tenant, machine: machine.ref)
                handedOut.append(identity.hostPrivateKey.value)
                for keyType in [SSHKeyType.ed25519, .ecdsa] {
                    let credentials = try await harness.userCredentials(tenant: tenant, machine: machine.ref, keyType: keyType)
                    handedOut.append(try #require(credentials.privateKey).value)
                }
                _ = try await harness.failure(.sshUserCredentials(harness.userRequest(machine.ref, "bad name")), tenant: tenant)
                authorities.append(try await broker.authorities.authorities(for: tenant))
            }
        }
        // Every CA private key, as raw bytes, hex and base64 (with and without its public half, as
        // the OpenSSH file holds it).
        var needles: [[UInt8]] = [Array("PRIVATE KEY".utf8)]
        for ca in authorities.flatMap({ [$0.user, $0.host] }) {
            let secret = ca.secret
            needles.append(secret)
            needles.append(Array(secret.map { String(format: "%02x", $0) }.joined().utf8))
            needles.append(Array(Data(secret).base64EncodedString().utf8))
            needles.append(Array(Data(secret + ca.publicKey.keyBytes).base64EncodedString().utf8))
        }
        // The handed-out private keys' base64 bodies.
        for file in handedOut {
            for line in file.split(separator: "\n") where !line.hasPrefix("-----") && line.count >= 40 {
                needles.append(Array(line.utf8))
            }
        }

        // Redis: every key, read according to its type.
        let keys = try #require(try await harness.redis.command("KEYS", "*").array).compactMap(\.string)
        #expect(keys.contains(StoreKeys.sshCertificateAuthorities(tenants[0])))
        #expect(keys.contains(StoreKeys.sshAudit(tenants[1])))
        var values: [[UInt8]] = []
        for key in keys {
            values.append(Array(key.utf8))
            let type = try await harness.redis.command("TYPE", RedisArgument(key)).string
            let reply: RedisValue
            switch type {
            case "string": reply = try await harness.redis.command("GET", RedisArgument(key))
            case "hash": reply = try await harness.redis.command("HGETALL", RedisArgument(key))
            case "list": reply = try await harness.redis.command("LRANGE", RedisArgument(key), "0", "-1")
            case "set": reply = try await harness.redis.command("SMEMBERS", RedisArgument(key))
            case "zset": reply = try await harness.redis.command("ZRANGE", RedisArgument(key), "0", "-1", "WITHSCORES")
            case "stream": reply = try await harness.redis.command("XRANGE", RedisArgument(key), "-", "+")
            default:
                Issue.record("key \(key) has unexpected type \(type ?? "nil")")
                continue
            }
            values += flatten(reply)
        }
        #expect(values.count > keys.count)
        for value in values {
            for needle in needles where contains(value, needle) {
                Issue.record("Redis holds key material in clear: \(String(decoding: value.prefix(80), as: UTF8.self))…")
            }
        }

        // Logs: everything the broker instances wrote, at trace level.
        let logText = harness.log.text
        #expect(logText.contains("Issued an SSH user certificate"))
        #expect(logText.contains("cert.serial"))
        let logBytes = Array(logText.utf8)
        for needle in needles where contains(logBytes, needle) {
            Issue.record("the broker logged key material: \(String(decoding: needle.prefix(20), as: UTF8.self))…")
        }
    }
}

/// Every bulk string inside a reply, depth first.
private func flatten(_ value: RedisValue) -> [[UInt8]] {
    switch value {
    case .array(let elements): elements.flatMap(flatten)
    case .bulk(let bytes): [bytes]
    case .status(let text), .error(let text): [Array(text.utf8)]
    case .integer, .null: []
    }
}

private func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return false }
    let first = needle[0]
    var index = 0
    while index <= haystack.count - needle.count {
        if haystack[index] == first && haystack[index..<(index + needle.count)].elementsEqual(needle) { return true }
        index += 1
    }
    return false
}
