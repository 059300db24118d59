import Foundation
import PazDriverKit
import PazLocalServers
import PazSchemas
import PazTestSupport
import Testing
@testable import PazQEMUDriver

@Suite struct GuestConfigTests {
    let hostKey: TestUserKey
    let spec: GuestSpec

    init() throws {
        hostKey = try TestUserKey.generate()
        spec = GuestSpec(
            instanceId: "mch_01JTESTGUEST", hostname: "web-1", user: "paz",
            authorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExtraKey extra@test"],
            userCAPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUserCA paz-user-ca",
            hostPrivateKey: SecretText(hostKey.privateKey), hostPublicKey: hostKey.publicKey,
            hostCertificate: "ssh-ed25519-cert-v01@openssh.com AAAAIHostCert web-1",
            interfaces: [
                GuestInterface(name: "eth0", macAddress: "52:54:00:12:34:56", addressing: .dhcp),
                GuestInterface(name: "eth1", macAddress: "52:54:00:AB:CD:EF", addressing: .static(cidr: "10.200.0.11/24")),
            ])
    }

    /// What every renderer must place in the guest, by path.
    var expectedFiles: [String: (contents: String, mode: Int)] {
        [
            "/etc/ssh/paz_host_key": (hostKey.privateKey, 0o600),
            "/etc/ssh/paz_host_key.pub": (hostKey.publicKey + "\n", 0o644),
            "/etc/ssh/paz_host_key-cert.pub": (spec.hostCertificate + "\n", 0o644),
            "/etc/ssh/paz_user_ca.pub": (spec.userCAPublicKey + "\n", 0o644),
            "/etc/ssh/sshd_config.d/00-paz.conf": (
                "# Paz: the host identity from the SSH broker and the tenant's user CA.\n"
                    + "HostKey /etc/ssh/paz_host_key\nHostCertificate /etc/ssh/paz_host_key-cert.pub\n"
                    + "TrustedUserCAKeys /etc/ssh/paz_user_ca.pub\nPasswordAuthentication no\n", 0o644
            ),
        ]
    }

    // MARK: cloud-init

    @Test func userDataIsCloudConfigJSON() throws {
        let text = try CloudInitSeed(spec).userData()
        #expect(text.hasPrefix("#cloud-config\n"))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(text.dropFirst(14).utf8)) as? [String: Any])
        #expect(document["hostname"] as? String == "web-1")
        #expect(document["preserve_hostname"] as? Bool == false)
        #expect(document["ssh_pwauth"] == nil, "cloud-init restarts sshd for ssh_pwauth after the VM is ready")
        #expect(document["disable_root"] as? Bool == true)

        let users = try #require(document["users"] as? [[String: Any]])
        #expect(users.count == 1)
        #expect(users[0]["name"] as? String == "paz")
        #expect(users[0]["sudo"] as? String == "ALL=(ALL) NOPASSWD:ALL")
        #expect(users[0]["shell"] as? String == "/bin/bash")
        #expect(users[0]["lock_passwd"] as? Bool == true)
        #expect(users[0]["ssh_authorized_keys"] as? [String] == spec.authorizedKeys)

        let files = try #require(document["write_files"] as? [[String: String]])
        #expect(files.count == expectedFiles.count)
        for file in files {
            let expected = try #require(expectedFiles[file["path"] ?? ""], "unexpected file \(file["path"] ?? "")")
            #expect(file["content"] == expected.contents)
            #expect(file["permissions"] == "0" + String(expected.mode, radix: 8))
            #expect(file["owner"] == "root:root")
        }
        #expect(files.first { $0["path"] == "/etc/ssh/paz_host_key" }?["permissions"] == "0600")
        #expect(try CloudInitSeed(spec).userData() == text, "rendering is deterministic")
    }

    @Test func userDataWithoutExtraKeysOmitsThem() throws {
        var spec = spec
        spec.authorizedKeys = []
        let text = try CloudInitSeed(spec).userData()
        let document = try #require(try JSONSerialization.jsonObject(with: Data(text.dropFirst(14).utf8)) as? [String: Any])
        let users = try #require(document["users"] as? [[String: Any]])
        #expect(users[0]["ssh_authorized_keys"] == nil)
    }

    @Test func metaData() throws {
        #expect(try CloudInitSeed(spec).metaData() == "instance-id: mch_01JTESTGUEST\nlocal-hostname: web-1\n")
    }

    @Test func networkConfigMatchesInterfacesByMAC() throws {
        let text = try CloudInitSeed(spec).networkConfig()
        let document = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(document["version"] as? Int == 2)
        let ethernets = try #require(document["ethernets"] as? [String: [String: Any]])
        #expect(Set(ethernets.keys) == ["eth0", "eth1"])
        #expect(ethernets["eth0"]?["match"] as? [String: String] == ["macaddress": "52:54:00:12:34:56"])
        #expect(ethernets["eth0"]?["set-name"] as? String == "eth0")
        #expect(ethernets["eth0"]?["dhcp4"] as? Bool == true)
        #expect(ethernets["eth0"]?["addresses"] == nil)
        #expect(ethernets["eth1"]?["match"] as? [String: String] == ["macaddress": "52:54:00:ab:cd:ef"])
        #expect(ethernets["eth1"]?["set-name"] as? String == "eth1")
        #expect(ethernets["eth1"]?["dhcp4"] as? Bool == false)
        #expect(ethernets["eth1"]?["addresses"] as? [String] == ["10.200.0.11/24"])
    }

    @Test func seedISOIsBuiltPrivateWithVolumeIDCidata() async throws {
        let scratch = try ScratchDirectory.make(prefix: "paz-seed-test")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let directory = scratch.appendingPathComponent("seed").path
        let seed = CloudInitSeed(spec)
        let iso = try await seed.makeISO(in: directory)

        #expect(iso == directory + "/cidata.iso")
        #expect(try mode(of: directory) == 0o700)
        for name in ["user-data", "meta-data", "network-config", "cidata.iso"] {
            #expect(try mode(of: directory + "/" + name) == 0o600, "\(name)")
        }
        // The primary volume descriptor (sector 16) holds the volume id at byte 40, 32 bytes space-padded.
        let image = try Data(contentsOf: URL(fileURLWithPath: iso))
        let volumeID = String(decoding: image[(0x8000 + 40)..<(0x8000 + 72)], as: UTF8.self)
        #expect(volumeID.trimmingCharacters(in: .whitespaces) == "cidata")

        let listing = try await ExternalTool.run("isoinfo", ["-R", "-f", "-i", iso], timeout: .seconds(30))
        #expect(listing.status == 0, "\(listing.standardError)")
        #expect(Set(listing.standardOutput.split(separator: "\n")) == ["/user-data", "/meta-data", "/network-config"])
        let expected = ["/user-data": try seed.userData(), "/meta-data": try seed.metaData(), "/network-config": try seed.networkConfig()]
        for (path, text) in expected {
            let extracted = try await ExternalTool.run("isoinfo", ["-R", "-i", iso, "-x", path], timeout: .seconds(30))
            #expect(extracted.standardOutput == text, "\(path)")
        }
    }

    // MARK: Ignition

    @Test func ignitionConfigIsValidAgainstTheSpecItDeclares() async throws {
        let scratch = try ScratchDirectory.make(prefix: "paz-ignition-test")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let path = scratch.appendingPathComponent("config.ign").path
        try IgnitionConfig(spec).write(to: path)
        #expect(try mode(of: path) == 0o600)

        let document = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as? [String: Any])
        #expect((document["ignition"] as? [String: Any])?["version"] as? String == "3.4.0")
        let valid = try await validate(path)
        #expect(valid.status == 0, "the generated config must satisfy the Ignition 3.4.0 schema: \(valid.standardError)")

        var stringMode = document
        var storage = try #require(document["storage"] as? [String: Any])
        var files = try #require(storage["files"] as? [[String: Any]])
        files[0]["mode"] = "0600"
        storage["files"] = files
        stringMode["storage"] = storage
        var noVersion = document
        noVersion["ignition"] = [String: Any]()
        for (name, invalid) in [("mode-as-string", stringMode), ("no-version", noVersion)] {
            let invalidPath = scratch.appendingPathComponent(name + ".ign").path
            try JSONSerialization.data(withJSONObject: invalid).write(to: URL(fileURLWithPath: invalidPath))
            let result = try await validate(invalidPath)
            #expect(result.status != 0, "the schema must reject \(name)")
            #expect(result.standardError.contains("ValidationError"), "\(name): \(result.standardError)")
        }
    }

    @Test func ignitionFilesDecodeBackToTheSpec() throws {
        let document = try #require(try JSONSerialization.jsonObject(with: IgnitionConfig(spec).data()) as? [String: Any])
        let users = try #require((document["passwd"] as? [String: Any])?["users"] as? [[String: Any]])
        #expect(users.count == 1)
        #expect(users[0]["name"] as? String == "paz")
        #expect(users[0]["groups"] as? [String] == ["sudo"])
        #expect(users[0]["sshAuthorizedKeys"] as? [String] == spec.authorizedKeys)

        var expected = expectedFiles
        expected["/etc/hostname"] = ("web-1\n", 0o644)
        expected["/etc/systemd/network/10-paz-eth1.network"] = (
            "[Match]\nMACAddress=52:54:00:ab:cd:ef\n\n[Network]\nDHCP=no\nAddress=10.200.0.11/24\n", 0o644
        )
        let files = try #require((document["storage"] as? [String: Any])?["files"] as? [[String: Any]])
        let keyfilePath = "/etc/NetworkManager/system-connections/paz-eth1.nmconnection"
        #expect(files.count == expected.count + 1)
        for file in files {
            let path = try #require(file["path"] as? String)
            let source = try #require((file["contents"] as? [String: Any])?["source"] as? String)
            #expect(source.hasPrefix("data:;base64,"))
            let decoded = try #require(Data(base64Encoded: String(source.dropFirst("data:;base64,".count))))
            let contents = String(decoding: decoded, as: UTF8.self)
            #expect(file["overwrite"] as? Bool == true)
            if path == keyfilePath {
                #expect(file["mode"] as? Int == 0o600)
                #expect(contents.contains("mac-address=52:54:00:ab:cd:ef\n"))
                #expect(contents.contains("method=manual\naddress1=10.200.0.11/24\n"))
            } else {
                let want = try #require(expected[path], "unexpected file \(path)")
                #expect(contents == want.contents, "\(path)")
                #expect(file["mode"] as? Int == want.mode, "\(path)")
            }
        }
        #expect(files.contains { $0["path"] as? String == keyfilePath })
        #expect(try IgnitionConfig(spec).data() == IgnitionConfig(spec).data(), "rendering is deterministic")
    }

    @Test func ignitionFlavorsHandTheConfigToQEMU() {
        #expect(IgnitionFlavor.flatcar.qemuArguments(configPath: "/var/lib/paz/a,b.ign")
            == ["-fw_cfg", "name=opt/org.flatcar-linux/config,file=/var/lib/paz/a,,b.ign"])
        #expect(IgnitionFlavor.fedoraCoreOS.fwCfgName == "opt/com.coreos/config")
    }

    // MARK: Spec

    @Test func descriptionsNeverShowThePrivateKey() {
        var dumped = ""
        dump(spec, to: &dumped)
        for text in [String(describing: spec), String(reflecting: spec), dumped] {
            #expect(!text.contains("PRIVATE KEY"))
            #expect(!text.contains(hostKey.privateKey))
            #expect(text.contains("web-1"))
        }
    }

    @Test(arguments: [
        ("hostname", { @Sendable (spec: inout GuestSpec) in spec.hostname = "Web_1" }),
        ("instanceId", { @Sendable (spec: inout GuestSpec) in spec.instanceId = "mch 1\nlocal-hostname: evil" }),
        ("user", { @Sendable (spec: inout GuestSpec) in spec.user = "root" }),
        ("userCAPublicKey", { @Sendable (spec: inout GuestSpec) in spec.userCAPublicKey = "ssh-ed25519 A\nssh-ed25519 B" }),
        ("interfaces[1].macAddress", { @Sendable (spec: inout GuestSpec) in spec.interfaces[1].macAddress = "52:54:00:ab:cd" }),
        ("interfaces[1].addressing", { @Sendable (spec: inout GuestSpec) in spec.interfaces[1].addressing = .static(cidr: "10.200.0.300/24") }),
        ("interfaces", { @Sendable (spec: inout GuestSpec) in spec.interfaces[1].name = "eth0" }),
    ] as [(String, @Sendable (inout GuestSpec) -> Void)])
    func invalidSpecsAreRejected(field: String, change: @Sendable (inout GuestSpec) -> Void) {
        var spec = spec
        change(&spec)
        let error = #expect(throws: DriverError.self) { try IgnitionConfig(spec).data() }
        guard case .invalidArgument(let named, _) = error else {
            Issue.record("expected invalidArgument, got \(String(describing: error))")
            return
        }
        #expect(named == field)
    }

    // MARK: ExternalTool

    @Test func externalToolKillsAProgramAtItsTimeout() async throws {
        let started = ContinuousClock.now
        await #expect(throws: ExternalToolError.timedOut(command: "sleep 30", after: .milliseconds(300))) {
            try await ExternalTool.run("sleep", ["30"], timeout: .milliseconds(300))
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        await #expect(throws: ExternalToolError.notFound("paz-no-such-tool")) {
            try await ExternalTool.run("paz-no-such-tool", [], timeout: .seconds(1))
        }
        let result = try await ExternalTool.run("sh", ["-c", "echo out; echo err >&2; exit 3"], timeout: .seconds(10))
        #expect(result == ExternalToolResult(status: 3, standardOutput: "out\n", standardError: "err\n"))
        let large = try await ExternalTool.run("sh", ["-c", "head -c 1000000 /dev/zero | tr '\\0' x"], timeout: .seconds(10))
        #expect(large.succeeded && large.standardOutput.utf8.count == 1_000_000)
    }

    // MARK: Helpers

    private func mode(of path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) & 0o777
    }

    /// Python's jsonschema validating the file at `path` against the official schema (status 0: valid).
    private func validate(_ path: String) async throws -> ExternalToolResult {
        let schema = try #require(Bundle.module.url(forResource: "ignition-v3_4.schema", withExtension: "json", subdirectory: "Fixtures"))
        let script = "import json,sys,jsonschema; jsonschema.validate(json.load(open(sys.argv[1])), json.load(open(sys.argv[2])))"
        return try await ExternalTool.run("python3", ["-c", script, path, schema.path], timeout: .seconds(60))
    }
}
