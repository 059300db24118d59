/// Errors raised by the service kit. Every message says what to change.
package enum ServiceKitError: Error, CustomStringConvertible, Equatable {
    /// A required configuration value is absent from the environment and the config file.
    case missingConfiguration(key: String, environmentVariable: String)
    /// A configuration value is present but cannot be used; `value` is `<redacted>` for secrets.
    case invalidConfiguration(key: String, environmentVariable: String, value: String, expected: String)
    /// The JSON configuration file named by `PAZ_CONFIG_FILE` could not be read or parsed.
    case configurationFileUnreadable(path: String, reason: String)
    /// `ServiceKit.bootstrap` was called a second time in this process.
    case alreadyBootstrapped
    /// The ops HTTP server stopped before it was listening (for example: the port is in use).
    case opsServerNotListening(host: String, port: Int, reason: String)

    package var description: String {
        switch self {
        case .missingConfiguration(let key, let variable):
            return "missing required configuration '\(key)': set the environment variable \(variable) "
                + "or the key '\(key)' in the JSON file named by \(ConfigurationSources.fileVariable)"
        case .invalidConfiguration(let key, let variable, let value, let expected):
            return "invalid configuration '\(key)' = \(value) (from \(variable) or the config file): expected \(expected)"
        case .configurationFileUnreadable(let path, let reason):
            return "cannot read the configuration file \(path) (named by \(ConfigurationSources.fileVariable)): \(reason)"
        case .alreadyBootstrapped:
            return "ServiceKit.bootstrap was called twice: call it once, at the top of the service's main"
        case .opsServerNotListening(let host, let port, let reason):
            return "the ops HTTP server could not listen on \(host):\(port): \(reason); "
                + "choose another port with OPS_PORT (0 picks a free one)"
        }
    }
}
