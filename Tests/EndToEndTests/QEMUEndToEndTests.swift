import Foundation
@testable import PazMachineCLI
import PazLocalServers
import PazTestSupport
import Testing

/// Issue 5's acceptance path: real VMs under QEMU (TCG) from the locally built Debian image, served
/// over loopback HTTP so the download-and-verify path runs, through the built executables only.
/// Serialized: under TCG a boot takes ~40 s of a core, so at most two VMs run at once.
extension EndToEnd {
    @Suite("End to end: QEMU clusters of real VMs", .serialized)
    struct QEMUEndToEndTests {
        @Test("2-VM cluster: broker-certified SSH, cluster network, stop/start/kill, rm leaves nothing; a wrong digest leaves nothing")
        func cluster() async throws {
            let image = try await TestImage.debian()
            let server = try await TestFileServer.start(serving: image.file.deletingLastPathComponent())
            defer { Task { await server.stop() } }
            // The local stack downloads nothing over http unless told: allow exactly this test's server.
            let run = try await LocalStackRun.start(
                prefix: "paz-e2e-qemu", environment: ["QEMU_IMAGE_URL_PREFIXES": "http://127.0.0.1:\(server.port)/"])
            try await run.use(tearDown: Self.tearDown) {
                let cli = run.cli
                try #require(run.up.status == 0, "up failed: \(run.up.err)")
                let qemuState = run.data.appendingPathComponent("qemu")
                let url = server.url(image.file.lastPathComponent)

                // The catalog, through the CLI.
                let images = try await cli.run(["images", "qemu", "--output", "json"]).object()["images"] as? [[String: Any]] ?? []
                #expect(Set(images.compactMap { $0["id"] as? String }).isSuperset(of: ["debian-12", "ubuntu-24.04", "flatcar-stable", "fedora-coreos-stable"]))
                let sizes = try await cli.run(["sizes", "qemu", "--output", "json"]).object()["sizes"] as? [[String: Any]] ?? []
                #expect(sizes.contains { $0["id"] as? String == "small" && $0["vcpus"] as? Int == 1 })
                let locations = try await cli.run(["locations", "qemu"])
                #expect(locations.status == 0 && locations.out.contains("local"), "\(locations.err)")

                // A wrong digest: the create fails saying so (without the image's real digest), and nothing is left behind.
                let wrong = try await cli.run([
                    "cluster", "create", "bad", "--driver", "qemu", "--qemu-accel", "tcg",
                    "--qemu-image-url", url, "--qemu-image-digest", "sha256:" + String(repeating: "0", count: 64),
                ])
                #expect(wrong.status != 0)
                #expect(wrong.err.contains("does not match image-digest") && !wrong.err.contains(image.sha256), "\(wrong.err)")
                #expect(Self.leftovers(qemuState).isEmpty, "left behind: \(Self.leftovers(qemuState))")
                #expect(Self.vmProcesses(under: run.data).isEmpty)

                // Two VMs, booted concurrently.
                let created = try await cli.run([
                    "cluster", "create", "vms", "--driver", "qemu", "--count", "2", "--qemu-accel", "tcg",
                    "--qemu-image-url", url, "--qemu-image-digest", "sha256:" + image.sha256,
                ])
                try #require(created.status == 0, "cluster create failed: \(created.err)\n\(Self.consoles(qemuState))")
                #expect(Self.vmProcesses(under: run.data).count == 2)

                // SSH through the broker's short-lived certificate, the host verified by the host CA.
                for machine in ["vms-1", "vms-2"] {
                    let hostname = try await cli.run(["ssh", machine, "--", "hostname"])
                    #expect(hostname.status == 0, "\(machine): \(hostname.err)")
                    #expect(hostname.out.trimmingCharacters(in: .whitespacesAndNewlines) == machine)
                    #expect(!hostname.err.contains("Permanently added"), "host trusted on first use: \(hostname.err)")
                }

                // What runs: the probe lists the guest's running services (its login user cannot reach
                // systemd over D-Bus on this image; the service cgroups tell).
                let probe = try await cli.run(["probe", "vms-1", "--output", "json"])
                #expect(probe.status == 0, "\(probe.err)")
                let units = (try probe.object()["units"] as? [[String: Any]])?.compactMap { $0["name"] as? String } ?? []
                #expect(units.contains("ssh.service") && units.contains("systemd-networkd.service"), "\(units)")

                // The cluster network: vms-1 reaches vms-2 at its private address.
                let second = try await cli.run(["inspect", "vms-2", "--output", "json"]).object()
                let addresses = try #require(second["addresses"] as? [[String: Any]])
                let privateAddress = try #require(addresses.first { $0["scope"] as? String == "private" }?["address"] as? String)
                #expect(privateAddress.hasPrefix("10.200.0."))
                let ping = try await cli.run(["ssh", "vms-1", "--", "ping", "-c", "3", "-W", "5", privateAddress])
                #expect(ping.status == 0, "ping over the cluster network failed: \(ping.out) \(ping.err)")

                // stop → stopped; start → SSH again; kill → stopped.
                let stopped = try await cli.run(["stop", "vms-2"])
                #expect(stopped.status == 0, "\(stopped.err)")
                #expect(try await Self.state(of: "vms-2", cli) == "stopped")
                #expect(Self.vmProcesses(under: run.data).count == 1)
                let started = try await cli.run(["start", "vms-2"])
                #expect(started.status == 0, "\(started.err)")
                #expect(try await cli.run(["ssh", "vms-2", "--", "true"]).status == 0)
                let killed = try await cli.run(["kill", "vms-1"])
                #expect(killed.status == 0, "\(killed.err)")
                #expect(try await Self.state(of: "vms-1", cli) == "stopped")

                // cluster rm: no QEMU, no switch, no files, no ports.
                let ports = try Self.sshPorts(qemuState)
                let removed = try await cli.run(["cluster", "rm", "vms"])
                #expect(removed.status == 0, "\(removed.err)")
                #expect(Self.vmProcesses(under: run.data).isEmpty)
                #expect(Self.leftovers(qemuState).isEmpty, "left behind: \(Self.leftovers(qemuState))")
                for port in ports { #expect(!LoopbackNetwork.canConnect(host: "127.0.0.1", port: port), "port \(port) still listens") }
            }
        }

        @Test("Killing the driver during a create: after its restart exactly one VM exists and the create completes")
        func driverCrashDuringCreate() async throws {
            let image = try await TestImage.debian()
            let server = try await TestFileServer.start(serving: image.file.deletingLastPathComponent())
            defer { Task { await server.stop() } }
            let run = try await LocalStackRun.start(
                prefix: "paz-e2e-qemu-crash", environment: ["QEMU_IMAGE_URL_PREFIXES": "http://127.0.0.1:\(server.port)/"])
            try await run.use(tearDown: Self.tearDown) {
                let cli = run.cli
                try #require(run.up.status == 0, "up failed: \(run.up.err)")

                let accepted = try await cli.run([
                    "cluster", "create", "crash", "--driver", "qemu", "--no-wait", "--output", "json", "--qemu-accel", "tcg",
                    "--qemu-image-url", server.url(image.file.lastPathComponent), "--qemu-image-digest", "sha256:" + image.sha256,
                ])
                try #require(accepted.status == 0, "\(accepted.err)")
                let operation = try #require(try accepted.object()["id"] as? String)

                // Once QEMU runs (the VM is booting), the driver dies.
                // (While QEMU daemonizes, its launching parent and the daemon both show for a moment.)
                // So one VM counts only when three samples 200 ms apart agree.
                let deadline = ContinuousClock.now + .seconds(120)
                var steady = 0
                while steady < 3 && ContinuousClock.now < deadline {
                    steady = Self.vmProcesses(under: run.data).count == 1 ? steady + 1 : 0
                    try await Task.sleep(for: .milliseconds(200))
                }
                try #require(steady == 3, "QEMU never started")
                // The driver comes back (as a supervisor would restart it) and finishes the create.
                try await run.killAndRestart("paz-driver-qemu") {
                    #expect(Self.vmProcesses(under: run.data).count == 1, "the VM must outlive the driver")
                }
                let waited = try await cli.run(["ops", "wait", operation])
                #expect(waited.status == 0, "the create did not complete after the restart: \(waited.err)")
                #expect(Self.vmProcesses(under: run.data).count == 1, "exactly one VM per machine")
                #expect(try await cli.run(["ssh", "crash-1", "--", "true"]).status == 0)

                let removed = try await cli.run(["cluster", "rm", "crash"])
                #expect(removed.status == 0, "\(removed.err)")
                #expect(Self.vmProcesses(under: run.data).isEmpty)
                #expect(Self.leftovers(run.data.appendingPathComponent("qemu")).isEmpty)
            }
        }

        // MARK: Helpers

        /// Stops the stack, then kills any VM or switch of this run a failed test left.
        static func tearDown(_ run: LocalStackRun) async {
            for pid in vmProcesses(under: run.data) + switchProcesses(under: run.data) { _ = Foundation.kill(pid, SIGKILL) }
            await run.tearDown()
        }

        /// The state of `machine` once it is not transitional (polled for up to a minute).
        static func state(of machine: String, _ cli: CLIProcess) async throws -> String? {
            var state: String?
            for _ in 0..<60 {
                state = try await cli.run(["inspect", machine, "--output", "json"]).object()["state"] as? String
                if state == "stopped" || state == "running" { return state }
                try await Task.sleep(for: .seconds(1))
            }
            return state
        }

        /// Pids of the VMs whose command line mentions `directory`: QEMU processes, not counting the
        /// child a `-daemonize` parent has forked while that parent still waits for it (QEMU forks twice,
        /// so for a moment a VM being launched may still count twice).
        static func vmProcesses(under directory: URL) -> [Int32] {
            let all = processes { $0.first?.hasSuffix("qemu-system-x86_64") == true && $0.contains { $0.contains(directory.path) } }
            return all.filter { pid in !all.contains(parent(of: pid) ?? 0) }
        }

        static func parent(of pid: Int32) -> Int32? {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
                  let line = status.split(separator: "\n").first(where: { $0.hasPrefix("PPid:") }) else { return nil }
            return Int32(line.dropFirst(5).trimmingCharacters(in: .whitespaces))
        }

        static func switchProcesses(under directory: URL) -> [Int32] {
            processes { $0.first?.hasSuffix("vde_switch") == true && $0.contains { $0.contains(directory.path) } }
        }

        private static func processes(where matches: ([String]) -> Bool) -> [Int32] {
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return entries.compactMap(Int32.init).filter { pid in
                guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return false }
                return matches(data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) })
            }
        }

        /// What the QEMU driver keeps on disk besides the image cache: machines, cluster networks, port claims.
        static func leftovers(_ qemuState: URL) -> [String] {
            ["machines", "clusters", "ports"].flatMap { folder in
                ((try? FileManager.default.contentsOfDirectory(atPath: qemuState.appendingPathComponent(folder).path)) ?? [])
                    .map { "\(folder)/\($0)" }
            } + ((try? FileManager.default.contentsOfDirectory(atPath: qemuState.appendingPathComponent("images").path)) ?? [])
                .filter { $0.hasPrefix(".") }.map { "images/\($0)" }
        }

        /// The forwarded SSH ports claimed now.
        static func sshPorts(_ qemuState: URL) throws -> [Int] {
            try FileManager.default.contentsOfDirectory(atPath: qemuState.appendingPathComponent("ports").path).compactMap(Int.init)
        }

        /// The serial console tails of every VM, for failure messages.
        static func consoles(_ qemuState: URL) -> String {
            let machines = qemuState.appendingPathComponent("machines")
            return ((try? FileManager.default.contentsOfDirectory(atPath: machines.path)) ?? []).map { machine in
                let console = (try? String(contentsOf: machines.appendingPathComponent("\(machine)/console.log"), encoding: .utf8)) ?? ""
                return "--- \(machine):\n\(console.suffix(2000))"
            }.joined(separator: "\n")
        }

        /// The environment a running process was started with.
    }
}
