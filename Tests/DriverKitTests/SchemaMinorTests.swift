import Foundation
import PazDriverKit
import PazSchemas
import Testing

/// A gateway of a newer minor schema version sends this driver commands with fields it does not
/// know (docs/operations.md, "Rolling out a driver"): the driver runs them as before.
@Suite("Driver service: commands of a newer minor schema version")
struct SchemaMinorTests {
    @Test("a create written by a newer minor, with unknown fields in the envelope and the payload, runs once and succeeds")
    func newerMinorCommandRuns() async throws {
        let harness = try await Harness.start()
        let create = sampleCreate(driver: harness.driver.name)
        var newer = try #require(
            try JSONSerialization.jsonObject(with: MessageCodec.encode(harness.command(.machineCreate(create)))) as? [String: Any])
        newer["schemaVersion"] = "\(SchemaVersion.current.major).\(SchemaVersion.current.minor + 1)"
        newer["placementHint"] = ["zone": "b", "spread": true]
        var payload = try #require(newer["payload"] as? [String: Any])
        payload["bootOrder"] = ["disk", "network"]
        newer["payload"] = payload
        try await harness.sendRaw(Array(try JSONSerialization.data(withJSONObject: newer)))

        let events = try await harness.events { count($0, phase: .succeeded) >= 1 }
        try await harness.stop()
        let succeeded = try #require(events.compactMap(\.operationProgress).first { $0.phase == .succeeded })
        #expect(succeeded.command == "machine.create")
        #expect(succeeded.machines.first?.machine == create.machine)
        #expect(harness.driver.count("create") == 1)
        // The driver answers in its own version: a reader of the newer minor reads it too.
        #expect(events.allSatisfy { $0.schemaVersion == .current })
    }
}
