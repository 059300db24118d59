import ArgumentParser
import Foundation
import PazGatewayAPI
@testable import PazMachineCLI
import Testing

@Suite("Argument parsing")
struct ParsingTests {
    @Test("every command parses", arguments: [
        (["up", "--data-dir", "/tmp/x"], "Up"), (["down"], "Down"),
        (["login", "--gateway", "http://127.0.0.1:1", "--token", "t"], "Login"),
        (["drivers"], "Drivers"), (["drivers", "generic"], "Drivers"),
        (["cluster", "create", "web", "--driver", "generic"], "ClusterCreate"),
        (["cluster", "ls"], "ClusterList"), (["cluster", "inspect", "web", "--probe"], "ClusterInspect"),
        (["cluster", "rm", "web", "--force"], "ClusterRemove"), (["cluster", "start", "web"], "ClusterStart"),
        (["cluster", "stop", "web", "--no-wait"], "ClusterStop"), (["cluster", "restart", "web"], "ClusterRestart"),
        (["create", "--cluster", "web"], "CreateMachine"), (["ls", "--cluster", "web"], "ListMachines"),
        (["status"], "Status"), (["inspect", "web-1"], "InspectMachine"), (["start", "web-1"], "StartMachine"),
        (["stop", "web-1"], "StopMachine"), (["restart", "web-1"], "RestartMachine"), (["kill", "web-1"], "KillMachine"),
        (["rm", "web-1", "--force"], "RemoveMachine"), (["ip", "web-1"], "MachineIP"), (["ops", "wait", "op_1"], "OpsWait"),
    ])
    func parses(arguments: [String], type: String) throws {
        let command = try PazMachine.parseAsRoot(arguments)
        #expect(String(describing: Swift.type(of: command)) == type)
    }

    @Test("global options on any command")
    func globals() throws {
        let command = try #require(try PazMachine.parseAsRoot(
            ["ls", "--output", "json", "--gateway", "http://127.0.0.1:9", "--token", "pazt_x", "--config", "/tmp/c.json"]) as? ListMachines)
        #expect(command.globals.output == .json)
        #expect(command.globals.gateway == "http://127.0.0.1:9")
        #expect(command.globals.token == "pazt_x")
        #expect(command.globals.config == "/tmp/c.json")
        #expect(throws: (any Error).self) { try PazMachine.parseAsRoot(["ls", "--output", "yaml"]) }
        #expect(throws: (any Error).self) { try PazMachine.parseAsRoot(["cluster", "create", "web", "--driver", "x", "--count", "0"]) }
        let wait = try #require(try PazMachine.parseAsRoot(["stop", "web-1", "--no-wait"]) as? StopMachine)
        #expect(wait.wait.noWait && wait.machine == "web-1")
    }

    static let generic: [Components.Schemas.DriverOption] = [
        option("ip-address", .string, driver: "generic"),
        option("ssh-user", .string, driver: "generic"),
        option("ssh-key", .string, driver: "generic", secret: true),
        option("ssh-port", .integer, driver: "generic"),
        option("sudo", .boolean, driver: "generic"),
        option("engine", ._enum, driver: "generic", values: ["none", "docker"]),
    ]

    static func option(
        _ name: String, _ type: Components.Schemas.OptionType, driver: String, secret: Bool = false, values: [String]? = nil
    ) -> Components.Schemas.DriverOption {
        Components.Schemas.DriverOption(
            name: name, _type: type, required: false, values: values, minimum: type == .integer ? 1 : nil,
            maximum: type == .integer ? 65535 : nil,
            envVar: "PAZ_\(driver.uppercased())_\(name.uppercased().replacingOccurrences(of: "-", with: "_"))",
            flag: "--\(driver)-\(name)", secret: secret, description: "the \(name)")
    }

    private func create(_ arguments: [String], environment: [String: String] = [:]) throws -> Components.Schemas.ClusterCreate {
        let command = try #require(try PazMachine.parseAsRoot(["cluster", "create"] + arguments) as? ClusterCreate)
        return try command.request(schema: Self.generic, environment: environment)
    }

    @Test("driver flags: comma list of ip-address becomes machines[], the rest cluster options")
    func commaList() throws {
        let body = try create([
            "--driver", "generic", "--generic-ip-address", "127.0.0.2,127.0.0.3,127.0.0.4", "lab",
            "--generic-ssh-user", "paz", "--generic-ssh-port=2222", "--generic-sudo", "--generic-engine", "none",
        ])
        #expect(body.name == "lab" && body.driver == "generic" && body.count == 3)
        #expect(body.machines?.map { $0.options?.additionalProperties["ip-address"] } == [
            .StringValue("127.0.0.2"), .StringValue("127.0.0.3"), .StringValue("127.0.0.4"),
        ])
        #expect(body.options?.additionalProperties == [
            "ssh-user": .StringValue("paz"), "ssh-port": .IntegerValue(2222), "sudo": .BooleanValue(true),
            "engine": .StringValue("none"),
        ])
    }

    @Test("driver flags: repeated flag is per machine, and must match --count")
    func repeated() throws {
        let body = try create(["lab", "--driver", "generic", "--count", "2", "--generic-ip-address", "127.0.0.2", "--generic-ip-address", "127.0.0.3"])
        #expect(body.count == 2)
        #expect(body.machines?.count == 2)
        #expect(throws: CLIError.self) {
            try create(["lab", "--driver", "generic", "--count", "3", "--generic-ip-address", "127.0.0.2,127.0.0.3"])
        }
    }

    @Test("driver flags: PAZ_<DRIVER>_<OPTION> fallbacks, flags win")
    func environmentFallback() throws {
        let environment = ["PAZ_GENERIC_SSH_USER": "fromenv", "PAZ_GENERIC_IP_ADDRESS": "127.0.0.5,127.0.0.6", "PAZ_GENERIC_SSH_PORT": "22"]
        let body = try create(["lab", "--driver", "generic", "--generic-ssh-port", "2200"], environment: environment)
        #expect(body.options?.additionalProperties["ssh-user"] == .StringValue("fromenv"))
        #expect(body.options?.additionalProperties["ssh-port"] == .IntegerValue(2200))
        #expect(body.machines?.count == 2 && body.count == 2)
    }

    @Test("driver flags: @PATH reads a file; --machine-option sets one machine's option")
    func fileAndMachineOption() throws {
        let directory = try temporaryDirectory("keyfile")
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("key")
        try "PRIVATE KEY\n".write(to: key, atomically: true, encoding: .utf8)
        let body = try create([
            "lab", "--driver", "generic", "--count", "2", "--generic-ssh-key", "@" + key.path,
            "--machine-option", "2:ssh-user=other",
        ])
        #expect(body.options?.additionalProperties["ssh-key"] == .StringValue("PRIVATE KEY\n"))
        #expect(body.machines?.count == 2)
        #expect(body.machines?[1].options?.additionalProperties["ssh-user"] == .StringValue("other"))
        #expect(body.machines?[0].options?.additionalProperties.isEmpty == true)
    }

    @Test("driver flags: unknown, mistyped and missing values are usage errors that say what to do", arguments: [
        (["lab", "--driver", "generic", "--generic-cpu", "2"], "driver generic has no option --generic-cpu"),
        (["lab", "--driver", "generic", "--qemu-accel", "tcg"], "driver options are spelled --generic-<option>"),
        (["lab", "--driver", "generic", "--generic-ssh-port", "many"], "--generic-ssh-port takes an integer"),
        (["lab", "--driver", "generic", "--generic-ssh-port", "0"], "--generic-ssh-port must be at least 1"),
        (["lab", "--driver", "generic", "--generic-engine", "podman"], "takes one of none, docker"),
        (["lab", "--driver", "generic", "--generic-ssh-user"], "--generic-ssh-user needs a value"),
        (["--driver", "generic"], "cluster create needs a cluster NAME"),
        (["a", "b", "--driver", "generic"], "takes one NAME"),
        (["lab", "--driver", "generic", "--machine-option", "x=y"], "--machine-option takes N:OPTION=VALUE"),
    ])
    func usageErrors(arguments: [String], message: String) throws {
        do {
            _ = try create(arguments)
            Issue.record("expected a usage error for \(arguments)")
        } catch let error as CLIError {
            #expect(error.exitCode == 64)
            #expect(error.description.contains(message), "\(error.description)")
        }
    }

    @Test("create (one machine): optional name and driver flags")
    func addMachine() throws {
        let command = try #require(try PazMachine.parseAsRoot(
            ["create", "--cluster", "lab", "lab-9", "--generic-ip-address", "127.0.0.9", "--size", "s"]) as? CreateMachine)
        let body = try command.request(driver: "generic", schema: Self.generic, environment: ["PAZ_GENERIC_SSH_USER": "u"])
        #expect(body.name == "lab-9" && body.size == "s")
        #expect(body.options?.additionalProperties == ["ip-address": .StringValue("127.0.0.9"), "ssh-user": .StringValue("u")])
    }
}
