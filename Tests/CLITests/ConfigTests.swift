import ArgumentParser
import Foundation
@testable import PazMachineCLI
import Testing

@Suite("Config file and login")
struct ConfigTests {
    @Test("the config is written 0600 in a 0700 directory and read back")
    func roundTrip() throws {
        let directory = try temporaryDirectory("config")
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("a/paz-machine/config.json")
        let config = CLIConfig(gateway: "http://127.0.0.1:8480", token: "pazt_secret")
        try config.save(to: file)
        #expect(try mode(file.path) == 0o600)
        #expect(try mode(file.deletingLastPathComponent().path) == 0o700)
        #expect(try CLIConfig.load(from: file) == config)
        // Saving again replaces it and keeps the mode.
        try CLIConfig(gateway: "http://127.0.0.1:1", token: "t2").save(to: file)
        #expect(try CLIConfig.load(from: file).token == "t2")
        #expect(try mode(file.path) == 0o600)
    }

    @Test("a config saved into an existing directory (e.g. /tmp) leaves the directory's mode alone")
    func existingDirectoryKeepsItsMode() throws {
        let directory = try temporaryDirectory("config-shared")
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: directory.path)
        let file = directory.appendingPathComponent("config.json")
        try CLIConfig(gateway: "http://127.0.0.1:8480", token: "pazt_secret").save(to: file)
        #expect(try mode(file.path) == 0o600)
        #expect(try mode(directory.path) == 0o755)
    }

    @Test("XDG_CONFIG_HOME decides where the config lives")
    func defaultPath() {
        #expect(CLIConfig.defaultFile(environment: ["XDG_CONFIG_HOME": "/x"]).path == "/x/paz-machine/config.json")
        #expect(CLIConfig.defaultFile(environment: ["HOME": "/home/u"]).path == "/home/u/.config/paz-machine/config.json")
        #expect(LocalStack.defaultDataDirectory(environment: ["XDG_DATA_HOME": "/d"]).path == "/d/paz-machine")
        #expect(LocalStack.defaultDataDirectory(environment: ["HOME": "/h"], isRoot: false).path == "/h/.local/share/paz-machine")
        #expect(LocalStack.defaultDataDirectory(environment: ["HOME": "/root"], isRoot: true).path == "/var/lib/paz-machine")
        // Where deploy/images/build-debian-test-image.sh writes, which the local QEMU driver may read file:// images from.
        #expect(LocalStack.testImageDirectory(environment: ["HOME": "/h"]).path == "/h/.cache/paz-machine/test-images")
        #expect(LocalStack.testImageDirectory(environment: ["HOME": "/h", "XDG_CACHE_HOME": "/c"]).path == "/c/paz-machine/test-images")
        #expect(LocalStack.testImageDirectory(environment: ["HOME": "/h", "XDG_CACHE_HOME": "", "PAZ_IMAGE_DIR": "/i"]).path == "/i")
        #expect(LocalStack.safeTargets(environment: ["HOME": "/h"]) == [
            "QEMU_IMAGE_FILE_DIRECTORIES": "/h/.cache/paz-machine/test-images",
            "GENERIC_ADDRESS_ALLOW": "127.0.0.0/8", "GENERIC_ADDRESS_DENY": "127.0.0.1/32",
            "EC2_AWS_ENDPOINTS": "false", "EC2_ENDPOINT_PREFIXES": "",
            "EC2_ADDRESS_ALLOW": "127.0.0.0/8", "EC2_ADDRESS_DENY": "127.0.0.1/32",
            "DIGITALOCEAN_PROVIDER_ENDPOINT": "false", "DIGITALOCEAN_ENDPOINT_PREFIXES": "",
            "DIGITALOCEAN_ADDRESS_ALLOW": "127.0.0.0/8", "DIGITALOCEAN_ADDRESS_DENY": "127.0.0.1/32",
            "HETZNER_PROVIDER_ENDPOINT": "false", "HETZNER_ENDPOINT_PREFIXES": "",
            "HETZNER_ADDRESS_ALLOW": "127.0.0.0/8", "HETZNER_ADDRESS_DENY": "127.0.0.1/32",
        ])
    }

    @Test("login --no-verify stores gateway and token; flags override the file; without them: not logged in")
    func login() async throws {
        let directory = try temporaryDirectory("login")
        defer { try? FileManager.default.removeItem(at: directory) }
        let captured = CapturedTerminal()
        let plain = makeContext(captured, directory: directory)
        #expect(throws: CLIError.notLoggedIn) { try plain.credentials() }

        let command = try #require(try PazMachine.parseAsRoot(["login", "--no-verify"]) as? Login)
        try await command.run(makeContext(captured, directory: directory, gateway: "http://127.0.0.1:8480", token: "pazt_abc"))
        #expect(try CLIConfig.load(from: plain.configFile) == CLIConfig(gateway: "http://127.0.0.1:8480", token: "pazt_abc"))
        #expect(try mode(plain.configFile.path) == 0o600)
        #expect(!captured.err.contains("pazt_abc"))

        let stored = try plain.credentials()
        #expect(stored.gateway.absoluteString == "http://127.0.0.1:8480" && stored.token == "pazt_abc")
        let overridden = try makeContext(captured, directory: directory, token: "pazt_env").credentials()
        #expect(overridden.token == "pazt_env")
        #expect(throws: CLIError.self) { try makeContext(captured, directory: directory, gateway: "ftp://x").credentials() }
    }
}
