import Configuration
import Foundation
import Logging
import PazLocalServers
import PazServiceKit
import Testing

/// The pattern every component follows: a struct with `init(reader:) throws` and secrets as `Secret`.
private struct BrokerConfiguration: CustomStringConvertible {
    var url: String
    var password: Secret
    var prefetch: Int

    init(reader: ConfigReader) throws(ServiceKitError) {
        url = try reader.required("amqp.url")
        password = try reader.requiredSecret("amqp.password")
        prefetch = try reader.value("amqp.prefetch", default: 16, in: 1...1000)
    }

    var description: String { "BrokerConfiguration(url: \(url), password: \(password), prefetch: \(prefetch))" }
}

@Suite("Configuration")
struct ConfigurationTests {
    /// A JSON config file in its own scratch directory, removed when the value is released.
    private final class ConfigFile {
        let directory: URL
        let path: String
        init(_ json: String) throws {
            directory = try ScratchDirectory.make(prefix: "servicekit-config")
            let file = directory.appendingPathComponent("config.json")
            try Data(json.utf8).write(to: file)
            path = file.path
        }
        deinit { try? FileManager.default.removeItem(at: directory) }
    }

    @Test("environment variables override the JSON file; the file fills the rest; defaults apply last")
    func environmentOverridesFile() async throws {
        let file = try ConfigFile("""
            {"service": {"name": "from-file"}, "log": {"level": "debug", "format": "text"},
             "ops": {"port": 9911, "host": "127.0.0.2"}}
            """)
        let reader = try await ConfigurationSources.makeReader(environment: [
            "PAZ_CONFIG_FILE": file.path, "OPS_PORT": "0", "LOG_LEVEL": "warning",
        ])
        let config = try ServiceKitConfiguration(reader: reader)
        #expect(config.serviceName == "from-file")
        #expect(config.logFormat == .text)
        #expect(config.opsHost == "127.0.0.2")
        #expect(config.opsPort == 0)  // env "0" beats file 9911
        #expect(config.logLevel == .warning)  // env beats file "debug"
        #expect(config.shutdownTimeout == .seconds(30))  // default
    }

    @Test("defaults: JSON logs at info, ops endpoints on loopback")
    func defaults() async throws {
        let reader = try await ConfigurationSources.makeReader(environment: [:])
        let config = try ServiceKitConfiguration(reader: reader, defaultServiceName: "gateway")
        #expect(config == ServiceKitConfiguration(serviceName: "gateway"))
        #expect(config.opsHost == "127.0.0.1")
        #expect(config.logFormat == .json)
    }

    @Test("a missing required key throws a typed error naming the environment variable")
    func missingRequiredKey() async throws {
        let reader = try await ConfigurationSources.makeReader(environment: ["AMQP_PASSWORD": "pw"])
        let error = #expect(throws: ServiceKitError.self) { try BrokerConfiguration(reader: reader) }
        #expect(error == .missingConfiguration(key: "amqp.url", environmentVariable: "AMQP_URL"))
        #expect(error?.description.contains("AMQP_URL") == true)
        #expect(error?.description.contains("PAZ_CONFIG_FILE") == true)

        let kitError = #expect(throws: ServiceKitError.self) { try ServiceKitConfiguration(reader: reader) }
        #expect(kitError == .missingConfiguration(key: "service.name", environmentVariable: "SERVICE_NAME"))
    }

    @Test("an invalid value throws a typed error naming the variable and the expected form",
          arguments: [("OPS_PORT", "http", "an integer"), ("OPS_PORT", "70000", "an integer in 0...65535"),
                      ("LOG_FORMAT", "xml", "one of json, text")])
    func invalidValue(variable: String, value: String, expected: String) async throws {
        let reader = try await ConfigurationSources.makeReader(environment: ["SERVICE_NAME": "s", variable: value])
        let error = #expect(throws: ServiceKitError.self) { try ServiceKitConfiguration(reader: reader) }
        guard case .invalidConfiguration(_, let named, _, let form) = error else {
            Issue.record("expected invalidConfiguration, got \(String(describing: error))")
            return
        }
        #expect(named == variable)
        #expect(form == expected)
    }

    @Test("environment variable names follow swift-configuration's encoding")
    func environmentNames() {
        #expect(ConfigurationSources.environmentVariable(for: "ops.port") == "OPS_PORT")
        #expect(ConfigurationSources.environmentVariable(for: "shutdown.timeoutSeconds") == "SHUTDOWN_TIMEOUT_SECONDS")
        #expect(ConfigurationSources.environmentVariable(for: "redis.url") == "REDIS_URL")
    }

    @Test("a secret read from the file is usable but never printed, dumped or logged")
    func secretIsRedacted() async throws {
        let secretValue = "hunter2-very-secret"
        let file = try ConfigFile(#"{"amqp": {"url": "amqp://127.0.0.1:5672", "password": "\#(secretValue)"}}"#)
        let reader = try await ConfigurationSources.makeReader(environment: ["PAZ_CONFIG_FILE": file.path])
        let config = try BrokerConfiguration(reader: reader)
        #expect(config.password.reveal() == secretValue)
        #expect(config.prefetch == 16)

        var dumped = ""
        dump(config, to: &dumped)
        let captured = CapturedLines()
        testLogger("config-test", captured: captured).info(
            "configured", metadata: ["config": "\(config)", "password": "\(config.password.reveal())"]
        )
        for text in ["\(config)", String(reflecting: config.password), dumped, "\(reader)", captured.text] {
            #expect(!text.contains(secretValue), "secret leaked into: \(text)")
        }
        #expect("\(config)".contains("<redacted>"))
        #expect(captured.text.contains("<redacted>"))
    }

    @Test("PAZ_CONFIG_FILE naming a missing or malformed file is a typed error")
    func unreadableFile() async throws {
        let missing = "/nonexistent/paz-config.json"
        await #expect(throws: ServiceKitError.self) {
            try await ConfigurationSources.makeReader(environment: ["PAZ_CONFIG_FILE": missing])
        }
        let malformed = try ConfigFile("[1, 2")
        let error = await #expect(throws: ServiceKitError.self) {
            try await ConfigurationSources.makeReader(environment: ["PAZ_CONFIG_FILE": malformed.path])
        }
        guard case .configurationFileUnreadable(let path, _) = error else {
            Issue.record("expected configurationFileUnreadable, got \(String(describing: error))")
            return
        }
        #expect(path == malformed.path)
    }
}
