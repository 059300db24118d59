import Foundation
import PazDriverKit
import PazGuestConfig
import PazSchemas
import PazTestSupport
import Testing

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
        let text = try CloudInitConfig(spec).userData()
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
        #expect(try CloudInitConfig(spec).userData() == text, "rendering is deterministic")
    }

    @Test func userDataWithoutExtraKeysOmitsThem() throws {
        var spec = spec
        spec.authorizedKeys = []
        let text = try CloudInitConfig(spec).userData()
        let document = try #require(try JSONSerialization.jsonObject(with: Data(text.dropFirst(14).utf8)) as? [String: Any])
        let users = try #require(document["users"] as? [[String: Any]])
        #expect(users[0]["ssh_authorized_keys"] == nil)
    }

    @Test func metaData() throws {
        #expect(try CloudInitConfig(spec).metaData() == "instance-id: mch_01JTESTGUEST\nlocal-hostname: web-1\n")
    }

    @Test func networkConfigMatchesInterfacesByMAC() throws {
        let text = try #require(try CloudInitConfig(spec).networkConfig())
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

    // MARK: Ignition

    @Test func ignitionConfigIsValidAgainstTheSpecItDeclares() async throws {
        let data = try IgnitionConfig(spec).data()
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect((document["ignition"] as? [String: Any])?["version"] as? String == "3.4.0")
        let errors = try await IgnitionSchema.errors(in: data)
        #expect(errors == nil, "the generated config must satisfy the Ignition 3.4.0 schema: \(errors ?? "")")

        var stringMode = document
        var storage = try #require(document["storage"] as? [String: Any])
        var files = try #require(storage["files"] as? [[String: Any]])
        files[0]["mode"] = "0600"
        storage["files"] = files
        stringMode["storage"] = storage
        var noVersion = document
        noVersion["ignition"] = [String: Any]()
        for (name, invalid) in [("mode-as-string", stringMode), ("no-version", noVersion)] {
            let errors = try await IgnitionSchema.errors(in: JSONSerialization.data(withJSONObject: invalid))
            #expect(errors?.contains("ValidationError") == true, "the schema must reject \(name): \(errors ?? "accepted")")
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

    // MARK: Cloud guests

    /// A cloud VM's spec: no interfaces, the provider's network.
    var cloudSpec: GuestSpec {
        var spec = spec
        spec.interfaces = []
        return spec
    }

    @Test func cloudConfigForACloudGuestCarriesTheSSHIdentityAndNoNetwork() throws {
        let config = CloudInitConfig(cloudSpec)
        #expect(try config.networkConfig() == nil)
        let text = try config.userData()
        #expect(text.hasPrefix("#cloud-config\n"))
        let document = try #require(try JSONSerialization.jsonObject(with: Data(text.dropFirst(14).utf8)) as? [String: Any])
        #expect(document["network"] == nil)
        let files = try #require(document["write_files"] as? [[String: String]])
        let contents = Dictionary(uniqueKeysWithValues: files.map { ($0["path"] ?? "", $0["content"] ?? "") })
        #expect(contents["/etc/ssh/paz_host_key"] == hostKey.privateKey)
        #expect(contents["/etc/ssh/paz_host_key.pub"] == hostKey.publicKey + "\n")
        #expect(contents["/etc/ssh/paz_host_key-cert.pub"] == spec.hostCertificate + "\n")
        #expect(contents["/etc/ssh/paz_user_ca.pub"] == spec.userCAPublicKey + "\n")
        #expect(contents["/etc/ssh/sshd_config.d/00-paz.conf"]?.contains("TrustedUserCAKeys /etc/ssh/paz_user_ca.pub\n") == true)
        #expect(try CloudInitConfig(spec).userData() == text, "user-data never depends on the interfaces")
    }

    @Test func ignitionForACloudGuestIsValidAndHasNoNetworkFiles() async throws {
        let data = try IgnitionConfig(cloudSpec).data()
        let errors = try await IgnitionSchema.errors(in: data)
        #expect(errors == nil, "the generated config must satisfy the Ignition 3.4.0 schema: \(errors ?? "")")
        let document = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let files = try #require((document["storage"] as? [String: Any])?["files"] as? [[String: Any]])
        #expect(Set(files.compactMap { $0["path"] as? String }) == Set(expectedFiles.keys).union(["/etc/hostname"]))
        #expect(document["networkd"] == nil && document["systemd"] == nil)
    }

    // MARK: User-data

    @Test(arguments: GuestConfigKind.allCases)
    func userDataIsTheDocumentOfTheKind(kind: GuestConfigKind) throws {
        let data = try GuestUserData(cloudSpec, kind: kind).data()
        switch kind {
        case .cloudInit:
            #expect(kind.ignitionFlavor == nil)
            #expect(data == Data(try CloudInitConfig(cloudSpec).userData().utf8))
        case .ignitionFlatcar, .ignitionFedoraCoreOS:
            #expect(kind.ignitionFlavor == (kind == .ignitionFlatcar ? .flatcar : .fedoraCoreOS))
            #expect(data == (try IgnitionConfig(cloudSpec).data()))
        }
        #expect(data.count < GuestUserData.ec2MaximumBytes / 2, "\(data.count) bytes leave room for authorized keys")
        #expect(try GuestUserData(cloudSpec, kind: kind).data(maximumBytes: GuestUserData.ec2MaximumBytes) == data)
    }

    @Test(arguments: GuestConfigKind.allCases)
    func userDataLargerThanTheLimitIsRefused(kind: GuestConfigKind) throws {
        var spec = cloudSpec
        spec.authorizedKeys = (0..<300).map { "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExtraKey\($0) user\($0)@test" }
        let userData = GuestUserData(spec, kind: kind)
        let size = try userData.data().count
        #expect(size > GuestUserData.ec2MaximumBytes)
        #expect(throws: DriverError.invalidArgument(
            field: nil,
            message: "the guest's \(kind.rawValue) user-data is \(size) bytes, more than the 16384 the provider accepts "
                + "(fewer authorized keys make it smaller)"
        )) { try userData.data(maximumBytes: GuestUserData.ec2MaximumBytes) }
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
}
