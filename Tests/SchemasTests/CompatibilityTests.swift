import Foundation
import PazSchemas
import Testing

/// The compatibility rules of docs/schemas.md, enforced by `MessageCodec.decode`.
@Suite struct CompatibilityTests {
    @Test func newerMinorWithUnknownFieldsIsRead() throws {
        let message = try MessageCodec.decode(Fixtures.data("compat/newer-minor-with-unknown-fields.json"))
        guard case .command(let envelope) = message else {
            Issue.record("expected a command, got \(message.kind)")
            return
        }
        #expect(envelope.schemaVersion == SchemaVersion(major: 1, minor: 4))
        guard case .command(let expected) = Sample.command(.machineCreate(Sample.create)) else { return }
        var sameVersion = envelope
        sameVersion.schemaVersion = .current
        #expect(sameVersion == expected)
    }

    @Test func minimalOneZeroMessageDefaultsOptionalFields() throws {
        let envelope = try MessageCodec.decode(CommandPayload.self, from: Fixtures.data("compat/minimal-1.0.json"))
        #expect(envelope.operationId == nil)
        #expect(envelope.idempotencyKey == nil)
        #expect(envelope.trace.traceState == nil)
        #expect(envelope.trace.isSampled == false)
        #expect(envelope.createdAt == Timestamp.parse("2026-11-22T04:25:00.000Z"))
        let expected = MachineCreate(
            driver: "generic", clusterId: "c-web", clusterName: "web", machineId: "m-web-3", machineName: "web-3")
        #expect(envelope.payload == .machineCreate(expected))
    }

    /// Every golden fixture, relabelled as written by a newer minor, is still read.
    @Test(arguments: Sample.all)
    func everyKindIsReadAtANewerMinor(_ sample: GoldenSample) throws {
        let text = try String(decoding: Fixtures.data(sample.fileName), as: UTF8.self)
        let relabelled = text.replacingOccurrences(
            of: "\n  \"schemaVersion\": \"1.0\"", with: "\n  \"schemaVersion\": \"1.9\"")
        #expect(relabelled != text)
        let message = try MessageCodec.decode(Data(relabelled.utf8))
        #expect(message.kind == sample.message.kind)
        #expect(message.payloadEquals(sample.message))
    }

    @Test func unknownMachineStateFromNewerMinorReadsAsUnknown() throws {
        let envelope = try MessageCodec.decode(
            EventPayload.self, from: Fixtures.data("compat/state-from-newer-minor.json"))
        guard case .machineState(let change) = envelope.payload else {
            Issue.record("expected event.machine.state, got \(envelope.kind)")
            return
        }
        #expect(change.newState == .unknown)
        #expect(change.oldState == .running)
    }

    @Test func newerMajorIsRejected() throws {
        let error = #expect(throws: SchemaError.self) {
            try MessageCodec.decode(Fixtures.data("compat/major-2.json"))
        }
        #expect(error == .unsupportedMajorVersion(found: SchemaVersion(major: 2, minor: 0), supported: .current))
        #expect(error?.reason == "unsupported-major-version")
        #expect(error?.description.contains("2.0") == true)
    }

    @Test(arguments: ["0.9", "2.0", "3.1", "10.0"])
    func otherMajorsAreRejected(_ version: String) throws {
        let data = Data(#"{"schemaVersion": "\#(version)", "kind": "machine.create"}"#.utf8)
        #expect(throws: SchemaError.unsupportedMajorVersion(found: SchemaVersion(version)!, supported: .current)) {
            try MessageCodec.decode(data)
        }
    }

    @Test func unknownKindIsRejected() throws {
        #expect(throws: SchemaError.unknownKind("machine.teleport")) {
            try MessageCodec.decode(Fixtures.data("compat/unknown-kind.json"))
        }
        #expect(SchemaError.unknownKind("machine.teleport").reason == "unknown-kind")
    }

    @Test func malformedJSONIsRejectedWithAUsefulMessage() throws {
        let error = #expect(throws: SchemaError.self) {
            try MessageCodec.decode(Fixtures.data("compat/malformed.json"))
        }
        guard case .malformedJSON(let detail) = error else {
            Issue.record("expected malformedJSON, got \(String(describing: error))")
            return
        }
        #expect(detail.contains("not valid JSON"))
        #expect(error?.reason == "malformed-json")
    }

    /// Bodies a consumer may meet on a queue, and the reason it dead-letters them with.
    @Test(arguments: [
        ("", "malformed-json"),
        ("not json", "malformed-json"),
        ("[1, 2]", "malformed-json"),
        ("\"machine.create\"", "malformed-json"),
        (#"{"kind": "machine.create"}"#, "invalid-schema-version"),
        (#"{"schemaVersion": "one", "kind": "machine.create"}"#, "invalid-schema-version"),
        (#"{"schemaVersion": "1", "kind": "machine.create"}"#, "invalid-schema-version"),
        (#"{"schemaVersion": 1.0, "kind": "machine.create"}"#, "invalid-schema-version"),
        (#"{"schemaVersion": "1.0", "kind": 7}"#, "unknown-kind"),
        (#"{"schemaVersion": "1.0"}"#, "unknown-kind"),
        (#"{"schemaVersion": "1.0", "kind": "machine.create"}"#, "invalid-field"),
    ])
    func invalidBodiesHaveAReason(_ body: String, _ reason: String) {
        let error = #expect(throws: SchemaError.self) { try MessageCodec.decode(Data(body.utf8)) }
        #expect(error?.reason == reason, "\(String(describing: error))")
    }

    @Test func invalidFieldNamesThePath() throws {
        let text = try String(decoding: Fixtures.data("machine.states.json"), as: UTF8.self)
        let broken = text.replacingOccurrences(of: "\"m-web-2\"", with: "\"m web 2\"")
        #expect(throws: SchemaError.self) { try MessageCodec.decode(Data(broken.utf8)) }
        do {
            _ = try MessageCodec.decode(Data(broken.utf8))
        } catch {
            guard case .invalidField(let path, let detail) = error else {
                Issue.record("expected invalidField, got \(error)")
                return
            }
            #expect(path == "payload.machines[1].machineId")
            #expect(detail.contains("machineId"))
        }
    }

    @Test func invalidIdentifierInAListNamesTheList() throws {
        let text = try String(decoding: Fixtures.data("cluster.remove.json"), as: UTF8.self)
        let broken = text.replacingOccurrences(of: "\"m-web-2\"", with: "\"m:web:2\"")
        let error = #expect(throws: SchemaError.self) { try MessageCodec.decode(Data(broken.utf8)) }
        guard case .invalidField(let path, let detail) = error else {
            Issue.record("expected invalidField, got \(String(describing: error))")
            return
        }
        #expect(path == "payload.machineIds[1]")
        #expect(detail.hasPrefix("machineIds \"m:web:2\" contains \":\""))
    }

    @Test func invalidNameInPayloadNamesTheField() throws {
        let text = try String(decoding: Fixtures.data("machine.create.json"), as: UTF8.self)
        let broken = text.replacingOccurrences(of: "\"machineName\": \"web-1\"", with: "\"machineName\": \"Web_1\"")
        let error = #expect(throws: SchemaError.self) { try MessageCodec.decode(Data(broken.utf8)) }
        #expect(
            error
                == .invalidField(
                    path: "payload.machineName",
                    detail: #"machineName "Web_1" contains "W"; allowed are lowercase letters a-z, digits 0-9 and '-'"#)
        )
    }

    @Test func invalidTraceparentIsRejected() throws {
        let text = try String(decoding: Fixtures.data("machine.kill.json"), as: UTF8.self)
        let broken = text.replacingOccurrences(of: "00f067aa0ba902b7", with: "0000000000000000")
        let error = #expect(throws: SchemaError.self) { try MessageCodec.decode(Data(broken.utf8)) }
        guard case .invalidField(let path, _) = error else {
            Issue.record("expected invalidField, got \(String(describing: error))")
            return
        }
        #expect(path == "traceparent")
    }

    @Test func commandsWithoutTenantAreRejected() throws {
        let text = try String(decoding: Fixtures.data("machine.kill.json"), as: UTF8.self)
        let broken = text.replacingOccurrences(of: "\"tenantId\": \"t-acme\",", with: "")
        #expect(broken != text)
        #expect(throws: SchemaError.invalidField(path: "tenantId", detail: "required for machine.kill")) {
            try MessageCodec.decode(Data(broken.utf8))
        }
    }

    @Test func unknownPayloadKindOfKnownShapeStillNeedsItsFields() throws {
        let text = try String(decoding: Fixtures.data("reply.probe.json"), as: UTF8.self)
        let broken = text.replacingOccurrences(of: "\"reachable\": true,", with: "")
        #expect(throws: SchemaError.invalidField(path: "payload.reachable", detail: "required field is missing")) {
            try MessageCodec.decode(Data(broken.utf8))
        }
    }

    @Test func aQueueOfOneCategoryRejectsAnother() throws {
        let data = try Fixtures.data("event.operation.json")
        #expect(throws: SchemaError.unexpectedCategory(kind: .eventOperation, expected: .command)) {
            try MessageCodec.decode(CommandPayload.self, from: data)
        }
        #expect(try MessageCodec.decode(EventPayload.self, from: data).kind == .eventOperation)
    }

    @Test func everyErrorHasADistinctReason() {
        let errors: [SchemaError] = [
            .malformedJSON(detail: "x"), .invalidSchemaVersion(found: nil),
            .unsupportedMajorVersion(found: SchemaVersion(major: 2, minor: 0), supported: .current),
            .unknownKind(nil), .unexpectedCategory(kind: .eventOperation, expected: .command),
            .invalidField(path: "a", detail: "b"), .encodingFailed(detail: "c"),
        ]
        #expect(Set(errors.map(\.reason)).count == errors.count)
        #expect(errors.allSatisfy { $0.reason.allSatisfy { $0.isLowercase || $0 == "-" } })
    }
}

extension Message {
    /// Whether two messages carry equal payloads (ignoring the envelope's schema version).
    func payloadEquals(_ other: Message) -> Bool {
        switch (self, other) {
        case (.command(let a), .command(let b)): a.payload == b.payload
        case (.reply(let a), .reply(let b)): a.payload == b.payload
        case (.event(let a), .event(let b)): a.payload == b.payload
        default: false
        }
    }
}
