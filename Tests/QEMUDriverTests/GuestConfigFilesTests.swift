import Foundation
import PazDriverKit
import PazGuestConfig
import PazLocalServers
import PazSchemas
import PazTestSupport
import Testing
@testable import PazQEMUDriver

/// How the QEMU driver hands the guest configuration (rendered by PazGuestConfig, tested in
/// GuestConfigTests) to a VM: a NoCloud seed ISO or an Ignition file passed with `-fw_cfg`.
@Suite struct GuestConfigFilesTests {
    let spec: GuestSpec

    init() throws {
        let hostKey = try TestUserKey.generate()
        spec = GuestSpec(
            instanceId: "mch_01JTESTGUEST", hostname: "web-1", user: "paz",
            userCAPublicKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIUserCA paz-user-ca",
            hostPrivateKey: SecretText(hostKey.privateKey), hostPublicKey: hostKey.publicKey,
            hostCertificate: "ssh-ed25519-cert-v01@openssh.com AAAAIHostCert web-1",
            interfaces: [
                GuestInterface(name: "eth0", macAddress: "52:54:00:12:34:56", addressing: .dhcp),
                GuestInterface(name: "eth1", macAddress: "52:54:00:AB:CD:EF", addressing: .static(cidr: "10.200.0.11/24")),
            ])
    }

    // MARK: cloud-init

    @Test func seedISOIsBuiltPrivateWithVolumeIDCidata() async throws {
        let scratch = try ScratchDirectory.make(prefix: "paz-seed-test")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let directory = scratch.appendingPathComponent("seed").path
        let seed = CloudInitConfig(spec)
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
        let expected = ["/user-data": try seed.userData(), "/meta-data": try seed.metaData(), "/network-config": try #require(try seed.networkConfig())]
        for (path, text) in expected {
            let extracted = try await ExternalTool.run("isoinfo", ["-R", "-i", iso, "-x", path], timeout: .seconds(30))
            #expect(extracted.standardOutput == text, "\(path)")
        }
    }

    @Test func aQEMUGuestNeedsAnInterface() async throws {
        let scratch = try ScratchDirectory.make(prefix: "paz-seed-test")
        defer { try? FileManager.default.removeItem(at: scratch) }
        var spec = spec
        spec.interfaces = []
        let refused = DriverError.invalidArgument(field: "interfaces", message: "a guest needs at least one network interface")
        await #expect(throws: refused) { try await CloudInitConfig(spec).makeISO(in: scratch.appendingPathComponent("seed").path) }
        #expect(throws: refused) { try IgnitionConfig(spec).write(to: scratch.appendingPathComponent("config.ign").path) }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty, "nothing is written")
    }

    // MARK: Ignition

    @Test func ignitionConfigIsWrittenPrivate() throws {
        let scratch = try ScratchDirectory.make(prefix: "paz-ignition-test")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let path = scratch.appendingPathComponent("config.ign").path
        try IgnitionConfig(spec).write(to: path)
        #expect(try mode(of: path) == 0o600)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == IgnitionConfig(spec).data())
    }

    @Test func ignitionFlavorsHandTheConfigToQEMU() {
        #expect(IgnitionFlavor.flatcar.qemuArguments(configPath: "/var/lib/paz/a,b.ign")
            == ["-fw_cfg", "name=opt/org.flatcar-linux/config,file=/var/lib/paz/a,,b.ign"])
        #expect(IgnitionFlavor.fedoraCoreOS.fwCfgName == "opt/com.coreos/config")
    }

    // MARK: ExternalTool

    @Test func externalToolKillsAProgramAtItsTimeout() async throws {
        let started = ContinuousClock.now
        await #expect(throws: ExternalToolError.timedOut(command: "sleep 30", after: .milliseconds(300))) {
            try await ExternalTool.run("sleep", ["30"], timeout: .milliseconds(300))
        }
        #expect(ContinuousClock.now - started < .seconds(25))  // killed, not waited for (30 s)
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
}
