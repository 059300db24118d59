import Foundation
import Logging
import PazAMQP
import PazControlPlane
@testable import PazMachineCLI
import PazLocalServers
import PazRedis
import PazSchemas
import PazStore
import PazTestSupport
import Testing

/// Issue 4's acceptance path through the built executables: `paz-machine up` (with the SSH broker), a
/// generic machine whose sshd trusts the tenant's user CA and presents a host certificate from the
/// broker, then `paz-machine ssh` / `scp` / `ssh-config` with the system OpenSSH client, expiry, tenant
/// isolation, a man in the middle, and no private key in Redis or the services' logs.
extension EndToEnd {
    @Suite("End to end: short-lived SSH certificates from the broker", .serialized)
    struct SSHEndToEndTests {
        @Test("ssh/scp/ssh-config with broker certificates; expiry; tenant isolation; MITM refused; no key leaks")
        func shortLivedCertificates() async throws {
            let run = try await LocalStackRun.start(prefix: "paz-e2e-ssh")
            try await run.use {
                let (cli, root, data, up) = (run.cli, run.root, run.data, run.up)
                try #require(up.status == 0, "up failed: \(up.err)")
                let stack = try #require(try StackState.load(from: data.appendingPathComponent("stack.json")))

                // A machine of tenant A: an existing host, created through the generic driver.
                let key = try TestUserKey.generate()
                let keyFile = root.appendingPathComponent("id_ed25519")
                try PrivateFile.write(Data(key.privateKey.utf8), to: keyFile)
                let plain = try SSHServer(host: "127.0.0.2")
                try plain.authorize(publicKeys: [key.publicKey])
                try await TestSSHD.start(plain)
                let created = try await cli.run([
                    "cluster", "create", "lab", "--driver", "generic", "--generic-ip-address", plain.host,
                    "--generic-ssh-port", String(plain.port), "--generic-ssh-user", plain.user,
                    "--generic-ssh-key", "@" + keyFile.path, "--generic-ssh-host-key", plain.hostPublicKeys[0],
                    "--generic-stop-command", "true", "--generic-restart-command", "true", "--generic-kill-command", "true",
                    "--generic-install-ssh-trust", "false",  // installed by hand below, as a driver would
                ])
                try #require(created.status == 0, "cluster create failed: \(created.err)")
                let machineId = try #require(
                    (try await cli.run(["inspect", "lab-1", "--output", "json"]).object())["id"] as? String)
                let clusterId = try #require(
                    (try await cli.run(["cluster", "inspect", "lab", "--output", "json"]).object())["id"] as? String)

                // The host identity a driver installs: the broker's host key and certificate, the user CA.
                let tenantA = try await Self.tenantId(named: LocalStack.tenant, data: data, redisPort: stack.ports.redis)
                let identity = try await Self.hostIdentity(
                    tenant: tenantA, cluster: try ClusterID(clusterId), principals: [plain.host, "lab-1"], data: data, stack: stack)
                await plain.stop()
                let trusted = try SSHServer(host: plain.host, port: plain.port, certified: .init(
                    hostPrivateKey: identity.hostPrivateKey.value, hostCertificate: identity.hostCertificate,
                    userCAPublicKey: identity.userCAPublicKey))
                try await TestSSHD.start(trusted)

                // ssh: a command, its exit status, its output; the host is verified through the host CA.
                #expect(try await cli.run(["ssh", "lab-1", "--", "true"]).status == 0)
                #expect(try await cli.run(["ssh", "lab-1", "--", "exit 7"]).status == 7)
                let whoami = try await cli.run(["ssh", "lab-1", "--", "whoami"])
                #expect(whoami.out.trimmingCharacters(in: .whitespacesAndNewlines) == plain.user, "\(whoami.err)")
                #expect(!whoami.err.contains("Warning: Permanently added"), "host trusted on first use: \(whoami.err)")
                let leftovers = try FileManager.default.contentsOfDirectory(atPath: FileManager.default.temporaryDirectory.path)
                    .filter { $0.hasPrefix("paz-ssh-") }
                #expect(leftovers.isEmpty, "credential files left behind: \(leftovers)")

                // scp both ways.
                let local = root.appendingPathComponent("hello.txt")
                try Data("hello over scp\n".utf8).write(to: local)
                #expect(try await cli.run(["scp", local.path, "lab-1:/tmp/paz-scp-\(machineId).txt"]).status == 0)
                let back = root.appendingPathComponent("back.txt")
                let fetched = try await cli.run(["scp", "lab-1:/tmp/paz-scp-\(machineId).txt", back.path])
                #expect(fetched.status == 0, "\(fetched.err)")
                #expect((try? String(contentsOf: back, encoding: .utf8)) == "hello over scp\n")
                _ = try await cli.run(["ssh", "lab-1", "--", "rm", "-f", "/tmp/paz-scp-\(machineId).txt"])

                // ssh-config: works with the plain OpenSSH client, until the certificate expires.
                let config = try await cli.run(["ssh-config", "lab", "--ttl", "10"])
                try #require(config.status == 0, "\(config.err)")
                #expect(config.out.contains("Host lab-1"))
                let configFile = root.appendingPathComponent("paz.conf")
                try Data(config.out.utf8).write(to: configFile)
                let issuedAt = ContinuousClock.now
                #expect(try await Self.plainSSH(["-F", configFile.path, "lab-1", "true"]) == 0)
                try await Task.sleep(until: issuedAt + .seconds(13))
                #expect(try await Self.plainSSH(["-F", configFile.path, "lab-1", "true"]) != 0, "an expired certificate was accepted")

                // Tenant B: no credentials for A's machine; B's own certificate is refused by A's machine.
                let tokenB = try await EndToEnd.EndToEndTests.secondTenantToken(stack: stack, data: data)
                let asB = ["PAZ_TOKEN": tokenB]
                let refused = try await cli.run(["ssh", machineId, "--", "true"], extraEnvironment: asB)
                #expect(refused.status != 0 && refused.err.lowercased().contains("not found"), "\(refused.err)")
                let hostB = try SSHServer(host: "127.0.0.3")
                try hostB.authorize(publicKeys: [key.publicKey])
                try await TestSSHD.start(hostB)
                let createdB = try await cli.run([
                    "cluster", "create", "lab-b", "--driver", "generic", "--generic-ip-address", hostB.host,
                    "--generic-ssh-port", String(hostB.port), "--generic-ssh-user", hostB.user,
                    "--generic-ssh-key", "@" + keyFile.path, "--generic-ssh-host-key", hostB.hostPublicKeys[0],
                    "--generic-install-ssh-trust", "false",
                ], extraEnvironment: asB)
                try #require(createdB.status == 0, "tenant B's cluster create failed: \(createdB.err)")
                let configB = try await cli.run(["ssh-config", "lab-b"], extraEnvironment: asB)
                try #require(configB.status == 0, "\(configB.err)")
                // B's key and certificate, but A's host and A's known_hosts line: only the user CA can refuse.
                let filesA = SSHConfig.stateDirectory(environment: ["XDG_STATE_HOME": root.appendingPathComponent("state").path])
                let machineB = try #require(try FileManager.default.contentsOfDirectory(atPath: filesA.path).first { $0 != machineId })
                let crossed = try await Self.plainSSH([
                    "-F", "/dev/null", "-i", filesA.appendingPathComponent("\(machineB)/id").path,
                    "-o", "CertificateFile=" + filesA.appendingPathComponent("\(machineB)/id-cert.pub").path,
                    "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
                    "-o", "UserKnownHostsFile=" + filesA.appendingPathComponent("\(machineId)/known_hosts").path,
                    "-p", String(trusted.port), "\(trusted.user)@\(trusted.host)", "true",
                ])
                #expect(crossed != 0, "tenant A's machine accepted tenant B's certificate")
                await hostB.stop()

                // A man in the middle on A's machine's address: its host key is not signed by A's host CA.
                await trusted.stop()
                let impostor = try SSHServer(host: plain.host, port: plain.port)
                try impostor.authorize(publicKeys: [key.publicKey])
                try await TestSSHD.start(impostor)
                let fooled = try await cli.run(["ssh", "lab-1", "--", "true"])
                #expect(fooled.status != 0, "the client accepted a host key the host CA did not sign")
                #expect(fooled.err.contains("Host key verification failed") || fooled.err.contains("REMOTE HOST IDENTIFICATION"),
                        "\(fooled.err)")
                await impostor.stop()

                // No private key in Redis (any key, any value) or in any service log.
                let redisHits = try await Self.redisEntries(containing: ["PRIVATE KEY", identity.hostPrivateKey.value], data: data, port: stack.ports.redis)
                #expect(redisHits.isEmpty, "private key material in Redis: \(redisHits)")
                let logs = data.appendingPathComponent("logs")
                for file in try FileManager.default.contentsOfDirectory(atPath: logs.path) {
                    let text = (try? String(contentsOf: logs.appendingPathComponent(file), encoding: .utf8)) ?? ""
                    #expect(!text.contains("PRIVATE KEY"), "\(file) logs a private key")
                }
            }
        }

        @Test("the generic driver installs the CA trust and host certificate at create and removes them at rm")
        func genericDriverInstallsTrust() async throws {
            let run = try await LocalStackRun.start(prefix: "paz-e2e-trust")
            try await run.use {
                let (cli, root, data, up) = (run.cli, run.root, run.data, run.up)
                try #require(up.status == 0, "up failed: \(up.err)")

                // An sshd that includes a drop-in directory its login user may write (instead of sudo and
                // /etc/ssh/sshd_config.d); it cannot reload a root sshd, so the test restarts it.
                let key = try TestUserKey.generate()
                let keyFile = root.appendingPathComponent("id_ed25519")
                try PrivateFile.write(Data(key.privateKey.utf8), to: keyFile)
                let dropIns = root.appendingPathComponent("sshd.d")
                try FileManager.default.createDirectory(at: dropIns, withIntermediateDirectories: true)
                try HelperCommand.run("chown", [SSHServer.defaultUser, dropIns.path])
                try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root.path)
                let host = try SSHServer(host: "127.0.0.4", extraConfig: ["Include \(dropIns.path)/*.conf"])
                try host.authorize(publicKeys: [key.publicKey])
                try await TestSSHD.start(host)
                let created = try await cli.run([
                    "cluster", "create", "trusted", "--driver", "generic", "--generic-ip-address", host.host,
                    "--generic-ssh-port", String(host.port), "--generic-ssh-user", host.user,
                    "--generic-ssh-key", "@" + keyFile.path, "--generic-ssh-host-key", host.hostPublicKeys[0],
                    "--generic-sudo", "", "--generic-ssh-trust-dir", dropIns.path, "--generic-sshd-reload-command", "true",
                ])
                try #require(created.status == 0, "cluster create failed: \(created.err)")
                let installed = try FileManager.default.contentsOfDirectory(atPath: dropIns.path).sorted()
                #expect(installed.count == 4 && installed.contains { $0.hasSuffix(".conf") }, "\(installed)")
                let keyMode = try #require(installed.first { $0.hasSuffix("-host_key") })
                #expect((try FileManager.default.attributesOfItem(atPath: dropIns.appendingPathComponent(keyMode).path)[.posixPermissions]
                    as? NSNumber)?.intValue == 0o600)

                // What sshd-reload-command would do on a real host.
                await host.stop()
                try await TestSSHD.start(host)
                let login = try await cli.run(["ssh", "trusted-1", "--", "true"])
                #expect(login.status == 0, "ssh through the installed trust failed: \(login.err)")
                #expect(!login.err.contains("Permanently added"))

                // probe logs in with an ECDSA certificate from the broker (audited), not the machine's key.
                let stack = try #require(try StackState.load(from: data.appendingPathComponent("stack.json")))
                let tenant = try await Self.tenantId(named: LocalStack.tenant, data: data, redisPort: stack.ports.redis)
                let auditedBefore = try await Self.auditEntries(tenant: tenant, keyType: "ecdsa-sha2-nistp256", data: data, redisPort: stack.ports.redis)
                let probe = try await cli.run(["probe", "trusted-1", "--output", "json"])
                try #require(probe.status == 0, "probe failed: \(probe.err)")
                let probed = try probe.object()
                #expect(probe.status == 0 && probed["reachable"] as? Bool == true, "\(probe.out) \(probe.err)")
                let auditedAfter = try await Self.auditEntries(tenant: tenant, keyType: "ecdsa-sha2-nistp256", data: data, redisPort: stack.ports.redis)
                #expect(auditedAfter == auditedBefore + 1, "no ECDSA certificate was issued for the probe")

                let removed = try await cli.run(["cluster", "rm", "trusted"])
                #expect(removed.status == 0, "\(removed.err)")
                #expect(try FileManager.default.contentsOfDirectory(atPath: dropIns.path).isEmpty, "files left on the host")
                await host.stop()
            }
        }

        // MARK: helpers

        /// The id of the tenant named `name`.
        static func tenantId(named name: String, data: URL, redisPort: Int) async throws -> TenantID {
            let redis = try StackAdmin.redis(data: data, port: redisPort)
            defer { Task { await redis.close() } }
            let id = try #require(try await redis.hget(StoreKeys.tenantNames, field: name), "no tenant \(name)")
            return try TenantID(id)
        }

        /// `ssh.host-identity`, as the generic driver asks it at create: as its RabbitMQ user, for a
        /// machine of its own that is being created (the broker refuses anything else). The machine is
        /// a stand-in recorded in `cluster` for the request and forgotten after it: the certificate
        /// names the address, and the tenant's host CA is what clients trust.
        static func hostIdentity(
            tenant: TenantID, cluster: ClusterID, principals: [String], data: URL, stack: StackState
        ) async throws -> HostIdentity {
            let standIn = MachineRecord(name: "host-identity", clusterId: cluster, driver: "generic")
            let redis = try StackAdmin.redis(data: data, port: stack.ports.redis)
            defer { Task { await redis.close() } }
            let admin = Store(redis: redis)
            try await admin.addMachines([standIn], tenant: tenant, initialState: .starting)
            var logger = Logger(label: "e2e.ssh")
            logger.logLevel = .warning
            let password = try #require(try StackAdmin.credentials(data).services["paz-driver-generic"]?.amqpPassword)
            let amqp = AMQPConnection(
                configuration: AMQPConfiguration(
                    host: "127.0.0.1", port: stack.ports.amqp, user: "paz-driver-generic", password: password,
                    connectionName: "e2e-host-identity"),
                logger: logger)
            try await amqp.waitUntilConnected(timeout: .seconds(10))
            defer { Task { await amqp.close() } }
            let identity = try await SSHBrokerClient(amqp: amqp).hostIdentity(tenant: tenant, machine: standIn.ref, principals: principals)
            try await admin.removeMachine(standIn, tenant: tenant)
            return identity
        }

        /// Audit entries of the tenant whose certified key is of `keyType`.
        static func auditEntries(tenant: TenantID, keyType: String, data: URL, redisPort: Int) async throws -> Int {
            let redis = try StackAdmin.redis(data: data, port: redisPort)
            defer { Task { await redis.close() } }
            let entries = try await redis.command("XRANGE", RedisArgument(StoreKeys.sshAudit(tenant)), "-", "+").array ?? []
            return entries.filter { entry in
                let fields = entry.array?.last?.array?.compactMap(\.string) ?? []
                return zip(fields, fields.dropFirst()).contains { $0 == "keyType" && $1 == keyType }
            }.count
        }

        /// The system ssh with `arguments`, no terminal; its exit status (-1: still running after 60 s).
        static func plainSSH(_ arguments: [String]) async throws -> Int32 {
            try await HelperCommand.result("/usr/bin/ssh", arguments).status
        }

        /// Every Redis key whose name or value contains one of `needles`.
        static func redisEntries(containing needles: [String], data: URL, port: Int) async throws -> [String] {
            try await RedisContents.all(data: data, port: port)
                .filter { entry in needles.contains { entry.key.contains($0) || entry.content.contains($0) } }.map(\.key)
        }
    }
}
