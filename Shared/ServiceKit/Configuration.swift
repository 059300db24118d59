package import Configuration
import Foundation

/// Builds the `ConfigReader` every service reads its settings from.
///
/// Sources, highest precedence first:
/// 1. environment variables (a key `amqp.url` is read from `AMQP_URL`, `ops.port` from `OPS_PORT`);
/// 2. an optional JSON file whose path is in `PAZ_CONFIG_FILE` (nested objects: `{"amqp": {"url": …}}`).
///
/// Values under keys that look sensitive (see ``LogRedaction``) are marked secret in both providers, so
/// swift-configuration's own descriptions and access logs redact them.
package enum ConfigurationSources {
    /// The environment variable naming the optional JSON configuration file.
    package static let fileVariable = "PAZ_CONFIG_FILE"

    /// Makes the reader from `environment` (the process environment by default) and the optional file.
    /// - Throws: ``ServiceKitError/configurationFileUnreadable(path:reason:)`` if `PAZ_CONFIG_FILE` is set
    ///   but the file is missing or is not a JSON object.
    package static func makeReader(
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(ServiceKitError) -> ConfigReader {
        let secrets = SecretsSpecifier<String, String>.dynamic { key, _ in LogRedaction.isSensitive(key: key) }
        var providers: [any ConfigProvider] = [
            EnvironmentVariablesProvider(environmentVariables: environment, secretsSpecifier: secrets)
        ]
        if let path = environment[fileVariable], !path.isEmpty {
            // FileProvider takes its path from a reader (`filePath`), which keeps SystemPackage out of our API.
            let fileSettings = ConfigReader(provider: InMemoryProvider(values: ["filePath": .init(.string(path), isSecret: false)]))
            let options = JSONSnapshot.ParsingOptions(
                secretsSpecifier: .dynamic { key, _ in LogRedaction.isSensitive(key: key) }
            )
            do {
                providers.append(try await FileProvider<JSONSnapshot>(parsingOptions: options, config: fileSettings))
            } catch {
                throw .configurationFileUnreadable(path: path, reason: "\(error)")
            }
        }
        return ConfigReader(providers: providers)
    }

    /// The environment variable that sets `key` (`ops.port` → `OPS_PORT`, `log.jsonFormat` → `LOG_JSON_FORMAT`),
    /// following swift-configuration's environment key encoding.
    package static func environmentVariable(for key: String) -> String {
        key.split(separator: ".", omittingEmptySubsequences: false).map { component in
            var word = ""
            var previous: Character?
            for character in component {
                if let previous, previous.isLowercase, character.isUppercase { word.append("_") }
                word.append(character)
                previous = character
            }
            return String(word.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
        }.joined(separator: "_")
    }
}

/// A secret configuration value (password, token, key). It prints as `<redacted>` in descriptions,
/// string interpolation, `dump` and log metadata; call ``reveal()`` only where the value is used.
package struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let value: String

    /// Wraps `value`.
    package init(_ value: String) { self.value = value }

    /// The secret itself. Never log it.
    package func reveal() -> String { value }

    package var description: String { LogRedaction.placeholder }
    package var debugDescription: String { LogRedaction.placeholder }
    package var customMirror: Mirror { Mirror(self, children: [:]) }
}

/// A type a configuration value can be parsed into (from an environment string or a JSON scalar).
package protocol ConfigurationValue {
    /// Parses the value; `nil` when `text` is not a valid value.
    init?(configurationText text: String)
    /// What a valid value looks like, for error messages ("an integer", "one of json, text").
    static var expectedForm: String { get }
}

extension String: ConfigurationValue {
    package init?(configurationText text: String) { self = text }
    package static var expectedForm: String { "a string" }
}

extension Int: ConfigurationValue {
    package init?(configurationText text: String) { self.init(text.trimmingCharacters(in: .whitespaces)) }
    package static var expectedForm: String { "an integer" }
}

extension Bool: ConfigurationValue {
    package init?(configurationText text: String) {
        switch text.lowercased() {
        case "true", "yes", "1": self = true
        case "false", "no", "0": self = false
        default: return nil
        }
    }
    package static var expectedForm: String { "true or false" }
}

extension ConfigurationValue where Self: RawRepresentable<String> & CaseIterable {
    package init?(configurationText text: String) { self.init(rawValue: text.lowercased()) }
    package static var expectedForm: String { "one of " + allCases.map(\.rawValue).joined(separator: ", ") }
}

/// Typed reads used by every component's `init(reader:) throws`. Keys are absolute (`"amqp.url"`), so a
/// missing or invalid value names the exact environment variable to set; do not read through
/// `scoped(to:)` readers with these helpers.
///
/// ```swift
/// struct AMQPConfiguration {
///     var url: String
///     var password: Secret
///     var prefetch: Int
///     init(reader: ConfigReader) throws(ServiceKitError) {
///         url = try reader.required("amqp.url")
///         password = try reader.requiredSecret("amqp.password")
///         prefetch = try reader.value("amqp.prefetch", default: 32, in: 1...65_535)
///     }
/// }
/// ```
extension ConfigReader {
    /// The value at `key`, or `defaultValue` when it is absent.
    /// - Throws: ``ServiceKitError/invalidConfiguration(key:environmentVariable:value:expected:)``
    ///   when present but not parseable or outside `range`.
    package func value<Value: ConfigurationValue & Comparable>(
        _ key: String, default defaultValue: Value, in range: ClosedRange<Value>? = nil
    ) throws(ServiceKitError) -> Value {
        try optional(key, in: range) ?? defaultValue
    }

    /// The value at `key`, or `defaultValue` when it is absent (for non-comparable values such as enums).
    package func value<Value: ConfigurationValue>(_ key: String, default defaultValue: Value) throws(ServiceKitError) -> Value {
        try optional(key) ?? defaultValue
    }

    /// The value at `key`; throws ``ServiceKitError/missingConfiguration(key:environmentVariable:)`` when absent.
    package func required<Value: ConfigurationValue>(_ key: String, as type: Value.Type = Value.self) throws(ServiceKitError) -> Value {
        guard let value: Value = try optional(key) else {
            throw .missingConfiguration(key: key, environmentVariable: ConfigurationSources.environmentVariable(for: key))
        }
        return value
    }

    /// The secret at `key`, or `nil` when absent. It is never included in error messages.
    package func secret(_ key: String) -> Secret? {
        string(forKey: ConfigKey(key), isSecret: true).map(Secret.init)
    }

    /// The secret at `key`; throws ``ServiceKitError/missingConfiguration(key:environmentVariable:)`` when absent.
    package func requiredSecret(_ key: String) throws(ServiceKitError) -> Secret {
        guard let secret = secret(key) else {
            throw .missingConfiguration(key: key, environmentVariable: ConfigurationSources.environmentVariable(for: key))
        }
        return secret
    }

    /// The value at `key` parsed as `Value`, `nil` when absent.
    package func optional<Value: ConfigurationValue>(_ key: String) throws(ServiceKitError) -> Value? {
        guard let text = rawText(key) else { return nil }
        guard let value = Value(configurationText: text) else {
            throw .invalidConfiguration(
                key: key, environmentVariable: ConfigurationSources.environmentVariable(for: key),
                value: "'\(text)'", expected: Value.expectedForm
            )
        }
        return value
    }

    private func optional<Value: ConfigurationValue & Comparable>(
        _ key: String, in range: ClosedRange<Value>?
    ) throws(ServiceKitError) -> Value? {
        guard let value: Value = try optional(key) else { return nil }
        if let range, !range.contains(value) {
            throw .invalidConfiguration(
                key: key, environmentVariable: ConfigurationSources.environmentVariable(for: key),
                value: "\(value)", expected: "\(Value.expectedForm) in \(range.lowerBound)...\(range.upperBound)"
            )
        }
        return value
    }

    /// The value as text: environment variables are strings; JSON scalars may be numbers or booleans.
    private func rawText(_ key: String) -> String? {
        let configKey = ConfigKey(key)
        if let text = string(forKey: configKey) { return text }
        if let number = int(forKey: configKey) { return String(number) }
        if let flag = bool(forKey: configKey) { return String(flag) }
        return nil
    }
}
