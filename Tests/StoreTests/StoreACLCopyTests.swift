import Foundation
import PazLocalServers
import PazSchemas
import PazStore
import Testing

/// `deploy/kubernetes/make-secrets.py` writes the Redis users of a Kubernetes deployment with a copy
/// of ``StoreACL``'s rules (Python cannot call Swift): the copy must not drift.
@Suite("The Kubernetes secrets' Redis rules are StoreACL's")
struct StoreACLCopyTests {
    private static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("deploy/kubernetes/make-secrets.py")

    @Test("every service kind", arguments: ["gateway", "status-collector", "ssh-broker", "generic", "ec2", "qemu"])
    func sameRules(_ kind: String) async throws {
        let serviceKind: ServiceKind = switch kind {
        case "gateway": .gateway
        case "status-collector": .statusCollector
        case "ssh-broker": .sshBroker
        default: .driver(try ResourceName(kind))
        }
        let (status, text) = try await HelperCommand.result("python3", [Self.script.path, "--redis-rules", serviceKind.userName])
        #expect(status == 0, "\(text)")
        #expect(text.trimmingCharacters(in: .whitespacesAndNewlines) == StoreACL.rules(for: serviceKind).joined(separator: " "))
    }
}
