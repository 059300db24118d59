import Foundation
@testable import PazMachineCLI
import PazLocalServers
import PazTestSupport
import Testing

/// docs/security.md, "Safe targets", through the built executables: what `paz-machine up` configures
/// lets the local test images and loopback test hosts through and refuses the rest, naming the setting.
/// No VM boots here (every QEMU create fails before QEMU starts).
extension EndToEnd {
    @Suite("End to end: safe targets of the local stack", .serialized)
    struct SafeTargetsEndToEndTests {
        @Test("file:// outside the test-image directory, http, a wrong digest and 127.0.0.1 are refused; nothing is left")
        func refusals() async throws {
            // The stack's test-image directory (PAZ_IMAGE_DIR, as deploy/images/build-debian-test-image.sh).
            let images = try ScratchDirectory.make(prefix: "paz-e2e-images")
            defer { try? FileManager.default.removeItem(at: images) }
            let fake = images.appendingPathComponent("fake.img")
            try Data((0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }).write(to: fake)
            try FileManager.default.createSymbolicLink(atPath: images.appendingPathComponent("passwd.img").path, withDestinationPath: "/etc/passwd")

            let run = try await LocalStackRun.start(prefix: "paz-e2e-targets", environment: ["PAZ_IMAGE_DIR": images.path])
            try await run.use(tearDown: QEMUEndToEndTests.tearDown) {
                try #require(run.up.status == 0, "up failed: \(run.up.err)")
                let cli = run.cli
                let stack = try #require(try StackState.load(from: run.data.appendingPathComponent("stack.json")))
                let qemuState = run.data.appendingPathComponent("qemu")
                let zeros = String(repeating: "0", count: 64)

                func qemuCreate(_ name: String, _ url: String) async throws -> CLIProcess.Result {
                    try await cli.run([
                        "cluster", "create", name, "--driver", "qemu", "--qemu-accel", "tcg",
                        "--qemu-image-url", url, "--qemu-image-digest", "sha256:" + zeros,
                    ])
                }

                for (index, url) in ["file:///etc/passwd", "file:///dev/zero", "file://" + images.path + "/passwd.img",
                                     "file://" + images.path + "/../" + images.lastPathComponent + "-other/x.img"].enumerated() {
                    let refused = try await qemuCreate("file-\(index)", url)
                    #expect(refused.status != 0)
                    #expect(refused.err.contains("QEMU_IMAGE_FILE_DIRECTORIES"), "\(url): \(refused.err)")
                }
                // No http(s) source is allowed by default: not even the control plane's own gateway.
                let http = try await qemuCreate("http", "http://127.0.0.1:\(stack.ports.gateway)/openapi.yaml")
                #expect(http.status != 0)
                #expect(http.err.contains("QEMU_IMAGE_URL_PREFIXES"), "\(http.err)")

                // A file in the test-image directory is read; the mismatch says so without its digest.
                let wrong = try await qemuCreate("wrong", fake.absoluteString)
                #expect(wrong.status != 0)
                #expect(wrong.err.contains("does not match image-digest"), "\(wrong.err)")
                #expect(wrong.err.matches(of: /[0-9a-f]{64}/).allSatisfy { $0.output == zeros }, "\(wrong.err)")
                #expect(QEMUEndToEndTests.leftovers(qemuState).isEmpty, "left behind: \(QEMUEndToEndTests.leftovers(qemuState))")

                // The generic driver may not reach 127.0.0.1, where the stack's own services listen.
                let keyFile = run.root.appendingPathComponent("id_ed25519")
                try PrivateFile.write(Data(try TestUserKey.generate().privateKey.utf8), to: keyFile)
                let generic = try await cli.run([
                    "cluster", "create", "own-ports", "--driver", "generic", "--generic-ip-address", "127.0.0.1",
                    "--generic-ssh-port", String(stack.ports.redis), "--generic-ssh-key", "@" + keyFile.path,
                    "--generic-accept-new-host-key", "true", "--generic-install-ssh-trust", "false",
                ])
                #expect(generic.status != 0)
                #expect(generic.err.contains("127.0.0.1/32") && generic.err.contains("GENERIC_ADDRESS_DENY"), "\(generic.err)")
            }
        }
    }
}
