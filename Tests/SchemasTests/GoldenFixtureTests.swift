import Foundation
import PazSchemas
import Testing

/// The wire format cannot drift silently: each fixture decodes to the expected value, and the
/// value encodes to the fixture byte for byte.
@Suite struct GoldenFixtureTests {
    @Test(arguments: Sample.all)
    func fixtureDecodesAndEncodesExactly(_ sample: GoldenSample) throws {
        let encoded = try MessageCodec.encode(sample.message, style: .pretty) + Data("\n".utf8)
        if ProcessInfo.processInfo.environment["PAZ_RECORD_FIXTURES"] == "1" {
            try encoded.write(to: Fixtures.sourceURL(sample.fileName))
            Issue.record("recorded \(sample.fileName); review the diff, then run again without PAZ_RECORD_FIXTURES")
            return
        }
        let fixture = try Fixtures.data(sample.fileName)
        #expect(try MessageCodec.decode(fixture) == sample.message)
        #expect(String(decoding: encoded, as: UTF8.self) == String(decoding: fixture, as: UTF8.self))
        // The compact wire form carries the same message.
        #expect(try MessageCodec.decode(MessageCodec.encode(sample.message, style: .compact)) == sample.message)
    }

    @Test func everyKindHasAFixture() {
        let covered = Set(Sample.all.map(\.message.kind))
        let missing = MessageKind.allCases.filter { !covered.contains($0) }
        #expect(missing.isEmpty, "kinds without a golden fixture: \(missing.map(\.rawValue))")
    }

    @Test func categoriesFollowTheKindPrefix() {
        #expect(Sample.commands.allSatisfy { $0.kind.category == .command })
        #expect(Sample.replies.allSatisfy { $0.kind.category == .reply })
        #expect(Sample.events.allSatisfy { $0.kind.category == .event })
    }
}

extension MessageCodec {
    /// Encodes any decoded message (test convenience).
    static func encode(_ message: Message, style: Style) throws(SchemaError) -> Data {
        switch message {
        case .command(let envelope): try encode(envelope, style: style)
        case .reply(let envelope): try encode(envelope, style: style)
        case .event(let envelope): try encode(envelope, style: style)
        }
    }
}
