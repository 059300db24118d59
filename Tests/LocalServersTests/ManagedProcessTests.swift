import Foundation
import PazLocalServers
import Testing

@Suite struct ManagedProcessTests {
    private func scratch() throws -> URL {
        try ScratchDirectory.make(prefix: "paz-process-test")
    }

    @Test func childStartsWithNoBlockedSignalsAndStopsOnSIGTERM() async throws {
        let directory = try scratch()
        let process = try ManagedProcess(
            executable: "sleep", arguments: ["30"], logFile: directory.appendingPathComponent("sleep.log")
        )
        let status = try String(contentsOfFile: "/proc/\(process.pid)/status", encoding: .utf8)
        let blocked = status.split(separator: "\n").first { $0.hasPrefix("SigBlk:") }
        #expect(blocked == "SigBlk:\t0000000000000000")
        await process.stop(timeout: .seconds(10))
        #expect(!process.isRunning)
        #expect(process.waitUntilExit() == 128 + SIGTERM, "SIGTERM alone should end sleep, without the SIGKILL")
    }

    @Test func outputGoesToTheLogFileAndWorkingDirectoryIsUsed() async throws {
        let directory = try scratch()
        let process = try ManagedProcess(
            executable: "sh", arguments: ["-c", "pwd; echo oops >&2"],
            logFile: directory.appendingPathComponent("sh.log"), workingDirectory: directory
        )
        while process.isRunning { try await Task.sleep(for: .milliseconds(10)) }
        let lines = process.logTail().split(separator: "\n").map(String.init)
        #expect(lines.contains(directory.resolvingSymlinksInPath().path) || lines.contains(directory.path))
        #expect(lines.contains("oops"))
    }

    @Test("a child inherits none of our descriptors: a pipe we hold reaches end-of-file while it runs")
    func childInheritsNoDescriptors() async throws {
        let directory = try scratch()
        let pipe = Pipe()
        let held = pipe.fileHandleForWriting.fileDescriptor
        let process = try ManagedProcess(
            executable: "sh", arguments: ["-c", "ls /proc/$$/fd; sleep 30"], logFile: directory.appendingPathComponent("sh.log"))
        let listed = ContinuousClock.now + .seconds(20)  // ls writes its listing at once, when it exits
        while process.logTail().isEmpty, ContinuousClock.now < listed { try await Task.sleep(for: .milliseconds(20)) }
        let open = process.logTail().split(separator: "\n").compactMap { Int32($0) }
        #expect(!open.contains(held), "the child holds our pipe's write end (fd \(held)): \(open)")
        #expect(open.allSatisfy { $0 <= 2 }, "descriptors of the child's shell: \(open)")
        try pipe.fileHandleForWriting.close()
        #expect(pipe.fileHandleForReading.readDataToEndOfFile().isEmpty)
        #expect(process.isRunning)
        await process.stop()
    }

    @Test func killEndsTheWholeProcessGroup() async throws {
        let directory = try scratch()
        let pidFile = directory.appendingPathComponent("grandchild.pid")
        let process = try ManagedProcess(
            executable: "sh", arguments: ["-c", "sleep 30 & echo $! > \(pidFile.path); wait"],
            logFile: directory.appendingPathComponent("group.log")
        )
        var grandchild: Int32?
        for _ in 0..<200 where grandchild == nil {
            grandchild = (try? String(contentsOf: pidFile, encoding: .utf8)).flatMap {
                Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        let pid = try #require(grandchild)
        await process.kill()
        try await Task.sleep(for: .milliseconds(100))
        let state = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        #expect(state == nil || state!.contains(" Z "), "grandchild must be gone (or a zombie awaiting init)")
    }

    @Test func missingExecutableIsATypedError() throws {
        let directory = try scratch()
        #expect(throws: LocalServerError.self) {
            try ManagedProcess(
                executable: "paz-no-such-program", arguments: [], logFile: directory.appendingPathComponent("x.log")
            )
        }
    }

    @Test func freePortIsOnLoopbackAndNonLoopbackIsRefused() throws {
        let port = try LoopbackNetwork.freePort(host: "127.0.0.1")
        #expect(port > 0 && port < 65536)
        #expect(!LoopbackNetwork.canConnect(host: "127.0.0.1", port: port))
        #expect(throws: LocalServerError.self) { try LoopbackNetwork.freePort(host: "10.0.0.1") }
    }
}
