package import ArgumentParser
package import Foundation
import Logging
import OpenAPIRuntime
package import PazGatewayAPI
import PazGatewayClient
import PazHTTP

/// Options every command takes.
package struct GlobalOptions: ParsableArguments, Sendable {
    @Option(help: "Output format: text (tables) or json (the API objects on stdout).")
    package var output: OutputFormat = .text

    @Option(help: "The gateway's URL (overrides the config file), e.g. http://127.0.0.1:8480.")
    package var gateway: String?

    @Option(help: ArgumentHelp("The tenant token (overrides the config file; env: PAZ_TOKEN).", valueName: "token"))
    package var token: String?

    @Option(help: "The config file (default: $XDG_CONFIG_HOME/paz-machine/config.json).")
    package var config: String?

    package init() {}
}

/// Everything a command needs from outside: the config, the terminal, the environment, how to reach
/// the gateway. `run()` builds it from the process; tests build their own and call `run(_:)`.
package struct CLIContext: Sendable {
    package var format: OutputFormat
    package var terminal: Terminal
    package var environment: [String: String]
    /// The config file in use.
    package var configFile: URL
    /// `--gateway`, when given.
    package var gatewayOverride: String?
    /// `--token` or `PAZ_TOKEN`, when given.
    package var tokenOverride: String?
    /// How often a waiting command polls its operation.
    package var pollInterval: Duration = .milliseconds(250)
    /// Where `up` looks for the service executables: the directory of the running `paz-machine`.
    package var executableDirectory: URL

    package init(
        format: OutputFormat = .text, terminal: Terminal, environment: [String: String], configFile: URL,
        gatewayOverride: String? = nil, tokenOverride: String? = nil, executableDirectory: URL
    ) {
        self.format = format
        self.terminal = terminal
        self.environment = environment
        self.configFile = configFile
        self.gatewayOverride = gatewayOverride
        self.tokenOverride = tokenOverride
        self.executableDirectory = executableDirectory
    }

    /// The context of this process for `options`.
    package init(options: GlobalOptions) {
        let environment = ProcessInfo.processInfo.environment
        self.init(
            format: options.output, terminal: .standard, environment: environment,
            configFile: options.config.map { URL(fileURLWithPath: $0) } ?? CLIConfig.defaultFile(environment: environment),
            gatewayOverride: options.gateway, tokenOverride: options.token ?? environment["PAZ_TOKEN"],
            executableDirectory: Self.runningExecutable().deletingLastPathComponent())
    }

    /// The running program's path (`/proc/self/exe`, resolved).
    package static func runningExecutable() -> URL {
        let link = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: link).standardizedFileURL
    }

    /// Writes a result line (or block) to stdout.
    package func print(_ text: String) {
        terminal.out(text.hasSuffix("\n") ? text : text + "\n")
    }

    /// Writes a note to stderr.
    package func note(_ text: String) {
        terminal.err(text.hasSuffix("\n") ? text : text + "\n")
    }

    /// Prints `value` as JSON with `--output json`, else the text `render` makes.
    package func emit<Value: Encodable>(_ value: Value, text render: (Value) -> String) throws(CLIError) {
        switch format {
        case .json: terminal.out(try Format.json(value))
        case .text: print(render(value))
        }
    }

    /// The gateway URL and token: flags and `PAZ_TOKEN` first, then the config file.
    package func credentials() throws(CLIError) -> (gateway: URL, token: String) {
        let config = try CLIConfig.load(from: configFile)
        guard let gatewayText = gatewayOverride ?? config.gateway, let token = tokenOverride ?? config.token else {
            throw .notLoggedIn
        }
        guard let gateway = URL(string: gatewayText), gateway.scheme == "http" || gateway.scheme == "https" else {
            throw .usage("the gateway URL \"\(gatewayText)\" is not an http(s) URL: run `paz-machine login --gateway http://HOST:PORT --token …`")
        }
        return (gateway, token)
    }

    /// Runs `body` with a gateway client authenticated by the configured token, then shuts the HTTP
    /// client down.
    package func withClient<T>(_ body: (Client) async throws -> T) async throws(CLIError) -> T {
        let (gateway, token) = try credentials()
        return try await Self.withClient(gateway: gateway, token: token, body)
    }

    /// How the CLI retries a gateway request (GETs, and POSTs with their `Idempotency-Key`): a refused
    /// connection for at most about 4 s; a 503 with `Retry-After` (a gateway while Redis fails over)
    /// for up to 4 × 5 s.
    static let gatewayRetry = RetryPolicy(
        maxAttempts: 5, baseDelay: .milliseconds(250), maximumDelay: .seconds(2), maximumRetryAfter: .seconds(5))

    /// Runs `body` with a client of `gateway` authenticated by `token` (the admin token, for `up`).
    /// Errors become ``CLIError``s: problems as such, transport failures with advice.
    package static func withClient<T>(
        gateway: URL, token: String?, _ body: (Client) async throws -> T
    ) async throws(CLIError) -> T {
        var logger = Logger(label: "paz-machine.http")
        logger.logLevel = .critical
        let http = PazHTTP.HTTPClient(
            configuration: .init(connectTimeout: .seconds(5), totalTimeout: .seconds(60), retry: gatewayRetry), logger: logger)
        var middlewares: [any ClientMiddleware] = [IdempotencyKeyMiddleware(), ProblemMiddleware()]
        if let token { middlewares.insert(BearerTokenMiddleware(token: token), at: 0) }
        let client = Client(serverURL: gateway, configuration: .gatewayAPI, transport: CurlTransport(client: http), middlewares: middlewares)
        do {
            let result = try await body(client)
            await http.shutdown()
            return result
        } catch {
            await http.shutdown()
            throw CLIError(error, gateway: gateway)
        }
    }
}

extension CLIError {
    /// `error` as the CLI reports it: problems and CLI errors as they are (also when the generated
    /// client wrapped them), transport failures with the gateway's address.
    package init(_ error: any Error, gateway: URL? = nil) {
        var error = error
        if let wrapped = error as? ClientError { error = wrapped.underlyingError }
        switch error {
        case let error as CLIError:
            self = error
        case let error as HTTPClientError:
            if case .gaveUp(_, let response) = error {
                self = .problem(ProblemMiddleware.problem(status: response.status, body: response.body))
            } else {
                let target = gateway.map { " \($0.absoluteString)" } ?? ""
                self = .transport("cannot reach the gateway\(target): \(error) (is it running? `paz-machine up` starts a local one)")
            }
        default:
            self = .transport("unexpected answer from the gateway: \(error)")
        }
    }
}
