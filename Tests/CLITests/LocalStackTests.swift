import ArgumentParser
import Foundation
@testable import PazMachineCLI
import PazLocalServers
import Testing

/// Every live process whose command line mentions `text` (our data directories are unique paths).
private func processes(mentioning text: String) -> [Int32] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.compactMap(Int32.init).filter { pid in
        guard let entry = ProcessGroups.entry(pid), entry.state != "Z",
              let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline")
        else { return false }
        return String(decoding: data, as: UTF8.self).replacingOccurrences(of: "\0", with: " ").contains(text)
    }
}

@Suite("Local stack (real redis-server and rabbitmq-server)")
struct LocalStackTests {
    @Test("up without the service executables names them, stops the servers it started, leaves no process")
    func upWithoutServices() async throws {
        let directory = try temporaryDirectory("up")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data")
        let bin = directory.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        let captured = CapturedTerminal()
        let stack = LocalStack(dataDirectory: data, context: makeContext(captured, directory: directory, executables: bin))

        var failure: CLIError?
        do {
            _ = try await stack.up()
        } catch {
            failure = error
        }
        let error = try #require(failure)
        for name in LocalStack.services {
            #expect(error.description.contains(name), "\(error)")
        }
        #expect(error.description.contains("swift build --product paz-gateway"))
        #expect(error.description.contains(bin.path))
        // The real servers ran, and were stopped again.
        #expect(captured.err.contains("starting redis-server"))
        for server in ["redis-server", "rabbitmq-server", "epmd"] {
            #expect(captured.err.contains("stopped \(server) (pid"), "\(captured.err)")
        }
        let state = try #require(try StackState.load(from: stack.stateFile))
        #expect(state.processes.isEmpty)
        #expect(!LoopbackNetwork.canConnect(host: "127.0.0.1", port: state.ports.redis))
        #expect(!LoopbackNetwork.canConnect(host: "127.0.0.1", port: state.ports.amqp))
        #expect(processes(mentioning: data.path).isEmpty)
        // Secrets were made once, private.
        #expect(try mode(stack.masterKeyFile.path) == 0o600)
        #expect(try mode(stack.adminTokenFile.path) == 0o600)
        #expect(try mode(stack.stateFile.path) == 0o600)
        // Redis kept its append-only data.
        #expect(FileManager.default.fileExists(atPath: data.appendingPathComponent("redis/appendonlydir").path))

        // A second `up` keeps the ports and the secrets.
        let key = try Data(contentsOf: stack.masterKeyFile)
        do {
            _ = try await stack.up()
            Issue.record("up succeeded without service executables")
        } catch {}
        #expect(try StackState.load(from: stack.stateFile)?.ports == state.ports)
        #expect(try Data(contentsOf: stack.masterKeyFile) == key)
        #expect(processes(mentioning: data.path).isEmpty)
    }

    @Test("down stops recorded process groups (services, then servers), keeps the data; twice is harmless")
    func down() async throws {
        let directory = try temporaryDirectory("down")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data")
        let redisData = data.appendingPathComponent("redis")
        try FileManager.default.createDirectory(at: redisData, withIntermediateDirectories: true)
        let redis = try await RedisServer.start(dataDirectory: redisData)
        let redisProcess = try #require(redis.process)
        // A service stand-in whose group holds a grandchild too: the whole group must go.
        let service = try ManagedProcess(
            executable: "/bin/sh", arguments: ["-c", "sleep 600 & sleep 600; wait"],
            logFile: directory.appendingPathComponent("service.log"))
        let forked = ContinuousClock.now + .seconds(20)
        while ProcessGroups.members(of: service.pid).count < 2, ContinuousClock.now < forked {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(ProcessGroups.members(of: service.pid).count >= 2)

        let state = StackState(
            ports: .init(redis: redis.port, amqp: 1, gateway: 2, gatewayOps: 3, collectorOps: 4, driverOps: 5),
            processes: [
                .init(name: "redis-server", pid: redisProcess.pid, isServer: true, log: redisProcess.logFile.path),
                .init(name: "service", pid: service.pid, isServer: false, log: service.logFile.path),
            ])
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        try state.save(to: data.appendingPathComponent("stack.json"))

        let captured = CapturedTerminal()
        let command = try #require(try PazMachine.parseAsRoot(["down", "--data-dir", data.path]) as? Down)
        try await command.run(makeContext(captured, directory: directory))
        #expect(!redisProcess.isRunning && !service.isRunning)
        #expect(ProcessGroups.members(of: service.pid).isEmpty)
        #expect(!LoopbackNetwork.canConnect(host: "127.0.0.1", port: redis.port))
        let notes = captured.err
        let serviceLine = try #require(notes.range(of: "stopped service"))
        let redisLine = try #require(notes.range(of: "stopped redis-server"))
        #expect(serviceLine.lowerBound < redisLine.lowerBound)
        #expect(!notes.contains("SIGKILL"))
        #expect(try StackState.load(from: data.appendingPathComponent("stack.json"))?.processes.isEmpty == true)
        #expect(try StackState.load(from: data.appendingPathComponent("stack.json"))?.ports.redis == redis.port)
        #expect(FileManager.default.fileExists(atPath: redisData.appendingPathComponent("appendonlydir").path))

        let again = CapturedTerminal()
        try await command.run(makeContext(again, directory: directory))
        #expect(again.err.contains("no local stack is running"))
    }

    @Test("a data directory keeps its topology: up with another one refuses, saying which to use, and changes nothing")
    func topologyIsKept() async throws {
        let directory = try temporaryDirectory("topology")
        defer { try? FileManager.default.removeItem(at: directory) }
        let data = directory.appendingPathComponent("data")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        let single = StackState(ports: .init(redis: 1, amqp: 2, gateway: 3, gatewayOps: 4, collectorOps: 5, driverOps: 6))
        try single.save(to: data.appendingPathComponent("stack.json"))
        let stack = LocalStack(dataDirectory: data, context: makeContext(CapturedTerminal(), directory: directory))

        var failure: CLIError?
        do {
            _ = try await stack.up(topology: .ha)
        } catch {
            failure = error
        }
        let error = try #require(failure)
        #expect(error.description.contains("has the single topology, not ha"), "\(error)")
        #expect(error.description.contains("paz-machine up --topology single"), "\(error)")
        #expect(try StackState.load(from: data.appendingPathComponent("stack.json")) == single)

        var ha = single
        ha.ha = try LocalStack.freeClusterPorts()
        try ha.save(to: data.appendingPathComponent("stack.json"))
        failure = nil
        do {
            _ = try await stack.up()
        } catch {
            failure = error
        }
        #expect(failure?.description.contains("has the ha topology, not single") == true, "\(String(describing: failure))")
        // Every replica of the cluster topology has its own ops port.
        let ops = try #require(ha.ha?.ops)
        #expect(ops.count == 2 * LocalStack.services.count)
        #expect(Set(ops.values).count == ops.count)
        #expect(ops["paz-driver-qemu.1"] != nil && ops["paz-driver-qemu.2"] != nil)
    }
}
