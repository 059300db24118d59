import Foundation
import PazSchemas
import Testing

@Suite struct ValueTests {
    @Test(arguments: [
        (MachineState.running, "running"), (.stopped, "stopped"), (.starting, "starting"), (.stopping, "stopping"),
        (.error, "error"), (.notFound, "not-found"), (.unknown, "unknown"),
    ])
    func machineStateWireStrings(_ state: MachineState, _ wire: String) throws {
        #expect(state.rawValue == wire)
        let encoded = try MessageCodec.encodeValue([state])
        #expect(String(decoding: encoded, as: UTF8.self) == "[\"\(wire)\"]")
        #expect(try MessageCodec.decodeValue([MachineState].self, from: encoded) == [state])
    }

    @Test func everyMachineStateIsCovered() {
        #expect(MachineState.allCases.count == 7)
    }

    @Test(arguments: [
        ("2026-11-22T04:25:00.123Z", "2026-11-22T04:25:00.123Z"),
        ("2026-11-22T04:25:59.999Z", "2026-11-22T04:25:59.999Z"),
        ("2026-11-22T04:25:00Z", "2026-11-22T04:25:00.000Z"),
        ("2026-11-22T05:25:00.5+01:00", "2026-11-22T04:25:00.500Z"),
        ("2026-11-21T23:25:00.000-05:00", "2026-11-22T04:25:00.000Z"),
        ("2024-02-29T23:59:59.9995Z", "2024-03-01T00:00:00.000Z"),
        ("1969-12-31T23:59:59.001Z", "1969-12-31T23:59:59.001Z"),
        ("2000-01-01T00:00:00.000Z", "2000-01-01T00:00:00.000Z"),
    ])
    func timestampsNormaliseToUTCMilliseconds(_ input: String, _ output: String) throws {
        let date = try #require(Timestamp.parse(input))
        #expect(Timestamp.format(date) == output)
    }

    @Test(arguments: [
        "", "2026-11-22", "2026-11-22T04:25:00", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
        "2026-11-22T24:00:00Z", "2026-11-22T04:25:00.Z", "2026-11-22 04:25:00Z", "2026-11-22T04:25:00Zjunk",
    ])
    func invalidTimestampsAreRejected(_ text: String) {
        #expect(Timestamp.parse(text) == nil)
    }

    /// Every millisecond of a window survives format → parse → format (Foundation's ISO 8601
    /// style does not: it turns …59.999 into …59.998).
    @Test func millisecondsRoundTripExactly() throws {
        let start = try #require(Timestamp.parse("2026-11-22T04:25:00.000Z"))
        for step in 0..<20_000 {
            let text = Timestamp.format(start.addingTimeInterval(Double(step) / 1000))
            let again = try #require(Timestamp.parse(text))
            #expect(Timestamp.format(again) == text)
        }
    }

    @Test("HTTP dates are IMF-fixdates in GMT, as Foundation's formatter writes them")
    func httpDates() throws {
        // RFC 9110 §5.6.7's example.
        #expect(Timestamp.formatHTTPDate(Date(timeIntervalSince1970: 784_111_777)) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(Timestamp.formatHTTPDate(Date(timeIntervalSince1970: 0.999)) == "Thu, 01 Jan 1970 00:00:00 GMT")
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        // Every weekday, month and leap year from 1960 to 2100, in steps of 7 h 17 min 31 s.
        var seconds = -315_619_200.0
        while seconds < 4_102_444_800 {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(Timestamp.formatHTTPDate(date) == formatter.string(from: date), "\(seconds)")
            seconds += 26_251
        }
    }

    @Test(arguments: [("1.0", 1, 0), ("1.12", 1, 12), ("0.1", 0, 1), ("10.3", 10, 3)])
    func schemaVersionParses(_ text: String, _ major: Int, _ minor: Int) throws {
        let version = try #require(SchemaVersion(text))
        #expect(version == SchemaVersion(major: major, minor: minor))
        #expect(version.description == text)
    }

    @Test(arguments: ["", "1", "1.", ".1", "1.0.0", "v1.0", "-1.0", "1.-0", "+1.0", "1.x"])
    func invalidSchemaVersionsAreRejected(_ text: String) {
        #expect(SchemaVersion(text) == nil)
    }

    @Test func readersAcceptEveryMinorOfTheirMajor() {
        let reader = SchemaVersion(major: 1, minor: 3)
        #expect(reader.canRead(SchemaVersion(major: 1, minor: 0)))
        #expect(reader.canRead(SchemaVersion(major: 1, minor: 9)))
        #expect(!reader.canRead(SchemaVersion(major: 2, minor: 0)))
        #expect(!reader.canRead(SchemaVersion(major: 0, minor: 9)))
        #expect(SchemaVersion(major: 1, minor: 2) < SchemaVersion(major: 1, minor: 10))
    }

    @Test func jsonValueRoundTripsEveryShape() throws {
        let value: JSONValue = [
            "n": nil, "b": false, "i": 42, "d": -0.5, "s": "x/y", "a": [1, "two", [true]], "o": [:],
        ]
        let data = try MessageCodec.encodeValue(value)
        #expect(
            String(decoding: data, as: UTF8.self)
                == #"{"a":[1,"two",[true]],"b":false,"d":-0.5,"i":42,"n":null,"o":{},"s":"x/y"}"#)
        #expect(try MessageCodec.decodeValue(JSONValue.self, from: data) == value)
        #expect(JSONValue.bool(true).boolValue == true && JSONValue.number(1).boolValue == nil)
    }

    @Test func secretsAreRedactedFromDescriptions() throws {
        let secret = SecretText("-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n")
        let identity = HostIdentity(
            hostPrivateKey: secret, hostPublicKey: "ssh-ed25519 AAAA", hostCertificate: "cert", hostCAPublicKey: "ca",
            userCAPublicKey: "uca")
        #expect(!String(describing: identity).contains("PRIVATE KEY"))
        #expect(!String(reflecting: identity).contains("PRIVATE KEY"))
        var dumped = ""
        dump(identity, to: &dumped)
        #expect(!dumped.contains("PRIVATE KEY"))
        // On the wire the key is intact (RPC replies only).
        let decoded = try MessageCodec.decodeValue(HostIdentity.self, from: MessageCodec.encodeValue(identity))
        #expect(decoded.hostPrivateKey.value == secret.value)
    }

    @Test func routingNames() {
        #expect(Routing.driverCommandQueue(driver: "qemu") == "paz.driver.qemu.commands")
        #expect(Routing.commandRoutingKey(driver: "digitalocean") == "digitalocean")
        #expect(Routing.eventRoutingKey(.eventMachineState) == "event.machine.state")
        #expect(Routing.deadLetterExchange == "paz.dead-letter")
    }

    @Test func replyAndEventInheritTheCommandsContext() throws {
        guard case .command(let command) = Sample.command(.machineKill(MachineAction(machine: Sample.machine))) else {
            return
        }
        let reply = command.reply(.failure(OperationError(code: .timeout, message: "no answer", retriable: true)))
        #expect(reply.inReplyTo == command.messageId)
        #expect(reply.tenantId == command.tenantId && reply.operationId == command.operationId)
        #expect(reply.idempotencyKey == command.idempotencyKey)
        #expect(reply.trace.traceID == command.trace.traceID && reply.trace.spanID != command.trace.spanID)
        #expect(reply.messageId != command.messageId)
        let event = command.event(.operation(OperationProgress(command: .machineKill, phase: .succeeded)))
        #expect(event.operationId == command.operationId && event.trace.traceID == command.trace.traceID)
    }

    @Test func encodingACommandWithoutTenantFails() {
        let envelope = CommandEnvelope(
            tenantId: nil, trace: .newTrace(), payload: .catalogLocations(CatalogLocationsQuery()))
        #expect(throws: SchemaError.encodingFailed(detail: "catalog.locations requires a tenantId")) {
            try MessageCodec.encode(envelope)
        }
    }
}
