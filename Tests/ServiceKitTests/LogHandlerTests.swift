import Foundation
import Logging
import PazServiceKit
import Testing

@Suite("Log handlers")
struct LogHandlerTests {
    private func parse(_ line: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
        return try #require(object as? [String: Any], "not a JSON object: \(line)")
    }

    @Test("the JSON handler writes one object per line with timestamp, level, label, message, metadata, source")
    func jsonLines() throws {
        let captured = CapturedLines()
        var logger = testLogger("paz.test", captured: captured)
        logger[metadataKey: "service"] = "gateway"
        logger.info("first \"quoted\"\nsecond line", metadata: ["operation": "op-1", "attempt": "\(2)"])
        logger.debug("nested", metadata: ["machine": ["id": "m-1", "tags": ["a", "b"]]])
        logger.trace("below the level: not written")

        let lines = captured.all
        #expect(lines.count == 2)
        #expect(lines.allSatisfy { $0.hasSuffix("\n") && $0.dropLast().firstIndex(of: "\n") == nil })

        let first = try parse(lines[0])
        #expect(Set(first.keys) == ["timestamp", "level", "label", "message", "metadata", "source"])
        #expect(first["level"] as? String == "info")
        #expect(first["label"] as? String == "paz.test")
        #expect(first["message"] as? String == "first \"quoted\"\nsecond line")
        #expect(first["source"] as? String == "ServiceKitTests")
        let metadata = try #require(first["metadata"] as? [String: String])
        #expect(metadata == ["service": "gateway", "operation": "op-1", "attempt": "2"])
        let timestamp = try #require(first["timestamp"] as? String)
        #expect(try Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(timestamp) <= Date())

        let second = try parse(lines[1])
        let machine = try #require((second["metadata"] as? [String: Any])?["machine"] as? [String: Any])
        #expect(machine["id"] as? String == "m-1")
        #expect(machine["tags"] as? [String] == ["a", "b"])
    }

    @Test("metadata under sensitive keys is redacted at any depth, in JSON and text output",
          arguments: ["password", "token", "Authorization", "private_key", "privateKey", "client_secret", "amqp.password"])
    func redaction(key: String) throws {
        let secretValue = "s3cr3t-\(key.count)-value"
        let jsonLines = CapturedLines()
        testLogger("redaction", captured: jsonLines).warning(
            "connecting", metadata: [key: "\(secretValue)", "nested": [key: "\(secretValue)", "user": "alice"]]
        )
        let textLines = CapturedLines()
        Logger(label: "redaction") { TextLogHandler(label: $0, output: textLines.output) }
            .error("connecting", metadata: [key: "\(secretValue)", "nested": [key: "\(secretValue)"]])

        #expect(!jsonLines.text.contains(secretValue))
        #expect(!textLines.text.contains(secretValue))
        let object = try parse(try #require(jsonLines.all.first))
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata[key] as? String == "<redacted>")
        #expect((metadata["nested"] as? [String: String]) == [key: "<redacted>", "user": "alice"])
        #expect(textLines.text.contains("\(key)=<redacted>"))
    }

    @Test("ordinary keys are kept; any key containing a sensitive word is redacted (conservative)",
          arguments: [("user", false), ("operation", false), ("machine_id", false),
                      ("X-Api-Key", true), ("db_passwd", true), ("session_cookie", true), ("refreshToken", true),
                      ("AUTHORIZATION", true), ("ssh.private-key", true), ("pass", false), ("", false)])
    func sensitiveKeys(key: String, sensitive: Bool) {
        #expect(LogRedaction.isSensitive(key: key) == sensitive)
    }

    @Test("control characters are escaped so every line stays valid JSON")
    func escaping() throws {
        let captured = CapturedLines()
        testLogger("escape", captured: captured).info("bell \u{07} tab \t back \\ slash", metadata: ["k\"ey": "v\u{01}"])
        let object = try parse(try #require(captured.all.first))
        #expect(object["message"] as? String == "bell \u{07} tab \t back \\ slash")
        #expect((object["metadata"] as? [String: String])?["k\"ey"] == "v\u{01}")
    }

    @Test("the configured log format picks the handler: JSON lines or readable text, both at the configured level")
    func formatFromConfiguration() throws {
        let json = CapturedLines()
        let jsonConfig = ServiceKitConfiguration(serviceName: "svc", logLevel: .notice, logFormat: .json)
        let jsonLogger = Logger(label: "svc") { ServiceKit.makeLogHandler(label: $0, configuration: jsonConfig, output: json.output) }
        jsonLogger.info("dropped: below notice")
        jsonLogger.notice("kept", metadata: ["machine": "m-1"])
        #expect(json.all.count == 1)
        #expect(try parse(try #require(json.all.first))["message"] as? String == "kept")

        let text = CapturedLines()
        let textConfig = ServiceKitConfiguration(serviceName: "svc", logLevel: .debug, logFormat: .text)
        Logger(label: "svc") { ServiceKit.makeLogHandler(label: $0, configuration: textConfig, output: text.output) }
            .debug("starting", metadata: ["machine": "m-1"])
        let line = try #require(text.all.first)
        #expect(line.contains(" debug svc: starting machine=m-1 [ServiceKitTests]"))
        #expect((try? JSONSerialization.jsonObject(with: Data(line.utf8))) == nil)
    }
}
