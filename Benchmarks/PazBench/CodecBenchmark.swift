import ArgumentParser
import Foundation
import PazSchemas

/// `message-codec`: CPU per encode and decode of the envelopes an `amqp-rpc` round trip carries,
/// with the control plane's codec and, for comparison, Foundation's `JSONEncoder`/`JSONDecoder`.
struct MessageCodecBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "message-codec",
        abstract: "Microseconds per message encode/decode: MessageCodec against Foundation's JSON coders.")

    @Option(help: "Repetitions of each operation (after 1,000 warm-up ones).")
    var repetitions = 50_000

    func run() throws {
        let request = CommandEnvelope(
            tenantId: TenantID("tnt_bench"), trace: .newTrace(), payload: .catalogLocations(CatalogLocationsQuery()))
        let reply = request.reply(.catalogLocations(CatalogLocations(locations: [])))
        let requestBytes = try MessageCodec.encode(request)
        let replyBytes = try MessageCodec.encode(reply)
        let foundationEncoder = JSONEncoder()
        foundationEncoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        foundationEncoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(Timestamp.format(date))
        }
        let foundationDecoder = JSONDecoder()
        foundationDecoder.dateDecodingStrategy = .custom { decoder in
            try Timestamp.parse(decoder.singleValueContainer().decode(String.self)) ?? Date()
        }
        guard try foundationEncoder.encode(request) == requestBytes else {
            throw ValidationError("Foundation's encoder wrote other bytes than MessageCodec: the comparison would be unfair")
        }
        print("request: \(requestBytes.count) B, reply: \(replyBytes.count) B, \(repetitions) repetitions each")
        let cases: [(String, () throws -> Void)] = [
            ("encode request", { _ = try MessageCodec.encode(request) }),
            ("decode request", { _ = try MessageCodec.decode(CommandPayload.self, from: requestBytes) }),
            ("encode reply", { _ = try MessageCodec.encode(reply) }),
            ("decode reply", { _ = try MessageCodec.decode(ReplyPayload.self, from: replyBytes) }),
            ("Foundation encode request", { _ = try foundationEncoder.encode(request) }),
            ("Foundation decode request", { _ = try foundationDecoder.decode(CommandEnvelope.self, from: requestBytes) }),
            ("Foundation encode reply", { _ = try foundationEncoder.encode(reply) }),
            ("Foundation decode reply", { _ = try foundationDecoder.decode(ReplyEnvelope.self, from: replyBytes) }),
        ]
        var totals = (ours: 0.0, foundation: 0.0)
        for (label, operation) in cases {
            for _ in 0..<1_000 { try operation() }
            let start = ContinuousClock.now
            for _ in 0..<repetitions { try operation() }
            let elapsed = ContinuousClock.now - start
            let micros = (Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12)
                / Double(repetitions)
            if label.hasPrefix("Foundation") { totals.foundation += micros } else { totals.ours += micros }
            print(String(format: "%@: %.2f µs", label, micros))
        }
        print(String(format: "message-codec: %.1f µs per round trip's four operations (Foundation: %.1f µs)",
                     totals.ours, totals.foundation))
    }
}
