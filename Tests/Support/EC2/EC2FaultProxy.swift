import Foundation
package import PazLocalServers

/// An HTTP proxy in front of a ``MotoServer`` that injects EC2 faults, for retry tests
/// (`EC2/Scripts/ec2_fault_proxy.py`, a Python process on a free loopback port).
///
/// Point the client at ``endpoint`` instead of the server's: requests are forwarded unchanged — body
/// and headers, Host included, so SigV4 signatures stay valid — unless a scheduled ``EC2Fault`` takes
/// them. The proxy counts, per EC2 action, the requests it saw, forwarded and faulted. Start one per
/// test; it is killed when the test process exits if the test does not ``stop()`` it.
package final class EC2FaultProxy: Sendable {
    /// Requests counted per EC2 action (the form field `Action`; the path for requests without one).
    package struct Statistics: Sendable, Decodable {
        /// Every request that arrived.
        package var seen: [String: Int]
        /// Requests moto answered (faults timed ``EC2Fault/Timing/afterForwarding`` included).
        package var forwarded: [String: Int]
        /// Requests answered with a fault.
        package var faulted: [String: Int]
        /// Requests the scheduled faults will still take.
        package var pending: Int
    }

    /// `http://127.0.0.1:<port>`: the EC2 endpoint to give the client.
    package let endpoint: String
    private let process: ManagedProcess

    private init(endpoint: String, process: ManagedProcess) {
        self.endpoint = endpoint
        self.process = process
    }

    /// Starts a proxy forwarding to `moto`.
    package static func start(inFrontOf moto: MotoServer, timeout: Duration = .seconds(15)) async throws(EC2TestSupportError) -> EC2FaultProxy {
        let script = try HelperProcess.script("ec2_fault_proxy.py")
        do {
            let directory = try ScratchDirectory.make(prefix: "paz-ec2-fault-proxy")
            FixtureCleanup.removeAtExit(directory)
            let port = try LoopbackNetwork.freePort()
            let process = try ManagedProcess(
                executable: "python3", arguments: ["-u", script, "--port", "\(port)", "--upstream-port", "\(moto.port)"],
                logFile: directory.appendingPathComponent("proxy.log")
            )
            FixtureCleanup.stopAtExit(process)
            try await LoopbackNetwork.waitUntilListening(
                host: "127.0.0.1", port: port, timeout: timeout, whileRunning: process, server: "ec2_fault_proxy.py"
            )
            return EC2FaultProxy(endpoint: "http://127.0.0.1:\(port)", process: process)
        } catch {
            throw .localServer(error)
        }
    }

    /// Appends `faults` to the schedule. A request is taken by the first scheduled fault that has
    /// requests left and matches its action.
    package func schedule(_ faults: [EC2Fault]) async throws(EC2TestSupportError) {
        let body: Data
        do {
            body = try JSONEncoder().encode(faults)
        } catch {
            throw .unreadableOutput(command: "encode faults", reason: "\(error)")
        }
        try await control("POST", "faults", body: String(decoding: body, as: UTF8.self))
    }

    /// What the proxy counted since it started (or was ``reset()``).
    package func statistics() async throws(EC2TestSupportError) -> Statistics {
        let text = try await control("GET", "stats")
        do {
            return try JSONDecoder().decode(Statistics.self, from: Data(text.utf8))
        } catch {
            throw .unreadableOutput(command: "GET stats", reason: "\(error): \(text.prefix(200))")
        }
    }

    /// Drops the scheduled faults and zeroes the counts.
    package func reset() async throws(EC2TestSupportError) {
        try await control("POST", "reset")
    }

    /// Stops the proxy.
    package func stop() async {
        await process.stop(timeout: .seconds(2))
    }

    @discardableResult
    private func control(_ method: String, _ name: String, body: String = "") async throws(EC2TestSupportError) -> String {
        let reply: LoopbackHTTP.Reply
        do {
            reply = try await LoopbackHTTP.send(
                method, "\(endpoint)/__paz_proxy/\(name)", headers: [("Content-Type", "application/json")], body: body,
                timeout: .seconds(10), server: "ec2_fault_proxy.py"
            )
        } catch {
            throw .localServer(error)
        }
        guard reply.status == 200 else {
            throw .localServer(.requestFailed(
                server: "ec2_fault_proxy.py", request: "\(method) \(name)", reason: "status \(reply.status): \(reply.body)"
            ))
        }
        return reply.body
    }
}
