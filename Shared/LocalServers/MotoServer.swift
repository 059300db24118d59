package import Foundation
import Synchronization

/// moto (PyPI `moto[server]`), the AWS emulator, on 127.0.0.1 and a free port: the EC2 API that EC2
/// driver tests and `paz-bench` talk to. Run as `python3 -m moto.server` (what `moto_server` runs) with
/// the python3 on PATH, the one `deploy/install-deps.sh` installs moto for.
///
/// ``start(options:)`` launches it, waits until it listens, loads the EC2 backend of ``region`` (moto's
/// first EC2 request in a region takes seconds while it loads its default AMIs) and, unless
/// ``Options/authentication`` is nil, switches signature checking on with an IAM user of its own.
/// Clients send form-encoded POSTs (PazHTTP's ``AWSQueryForm``) to ``endpoint``, signed with SigV4 for service
/// `ec2` in ``region`` with ``credentials``. Instances moto hands out carry addresses (10.x, 54.x …)
/// that belong to nobody here: never send anything to them.
package final class MotoServer: Sendable {
    /// How the server is started.
    package struct Options: Sendable {
        /// The region whose EC2 backend is loaded at start (requests may still name any region).
        package var region: String
        /// Added to moto's environment: `MOTO_ENABLE_AMI_VALIDATION`, `MOTO_ENABLE_KEYPAIR_VALIDATION`,
        /// `MOTO_EC2_ENABLE_INSTANCE_TYPE_VALIDATION` … moto switches these on for ANY non-empty value,
        /// `"false"` included: leave a variable out to keep its check off.
        package var environment: [String: String]
        /// Signature checking; nil leaves it off (moto then accepts any credentials, even none).
        package var authentication: Authentication?
        /// How long to wait for moto to listen, and again for each request of the setup (loading the
        /// region takes seconds).
        package var startTimeout: Duration

        /// Defaults: us-east-1, moto's own environment, signature checking on, 60 s to start.
        package init(
            region: String = "us-east-1", environment: [String: String] = [:],
            authentication: Authentication? = Authentication(), startTimeout: Duration = .seconds(60)
        ) {
            self.region = region
            self.environment = environment
            self.authentication = authentication
            self.startTimeout = startTimeout
        }
    }

    /// Always 127.0.0.1.
    package let host = "127.0.0.1"
    /// The TCP port.
    package let port: Int
    /// The options the server was started with.
    package let options: Options
    /// Where moto's log (its request log and tracebacks) is written.
    package let directory: URL
    /// What requests are signed with: the IAM user's access key, or ``MotoCredentials/unchecked``
    /// while signature checking is off. The same across ``reset()``.
    package let credentials: MotoCredentials
    private let running: Mutex<ManagedProcess?>
    private let api: MotoAPI
    private let keySeed: UInt32

    /// `http://127.0.0.1:<port>`: EC2 query requests are POSTed to `/` there.
    package var endpoint: String { api.baseURL }

    /// The region ``credentials`` sign for by default.
    package var region: String { options.region }

    /// True when moto checks signatures.
    package var checksSignatures: Bool { options.authentication != nil }

    /// The running process (nil once stopped), for `FixtureCleanup` and diagnostics.
    package var process: ManagedProcess? { running.withLock { $0 } }

    /// moto's log file.
    package var logFile: URL { directory.appendingPathComponent("moto.log") }

    /// Starts `moto_server` and returns once it answers EC2 requests (and checks signatures, unless
    /// `options.authentication` is nil).
    package static func start(options: Options = Options()) async throws(LocalServerError) -> MotoServer {
        let directory = try ScratchDirectory.make(prefix: "paz-moto")
        let port = try LoopbackNetwork.freePort()
        let process = try ManagedProcess(
            executable: "python3", arguments: ["-m", "moto.server", "-H", "127.0.0.1", "-p", "\(port)"],
            environment: options.environment, logFile: directory.appendingPathComponent("moto.log")
        )
        let api = MotoAPI(baseURL: "http://127.0.0.1:\(port)", region: options.region, timeout: options.startTimeout)
        let keySeed = UInt32.random(in: 1...UInt32.max)
        do {
            try await LoopbackNetwork.waitUntilListening(
                host: "127.0.0.1", port: port, timeout: options.startTimeout, whileRunning: process, server: "moto_server"
            )
            try await api.loadRegion()
            let credentials = if let authentication = options.authentication {
                try await api.enableAuthentication(authentication, keySeed: keySeed)
            } else {
                MotoCredentials.unchecked
            }
            return MotoServer(
                port: port, options: options, directory: directory, credentials: credentials, process: process, api: api,
                keySeed: keySeed
            )
        } catch {
            await process.kill()
            throw error
        }
    }

    private init(
        port: Int, options: Options, directory: URL, credentials: MotoCredentials, process: ManagedProcess, api: MotoAPI,
        keySeed: UInt32
    ) {
        self.port = port
        self.options = options
        self.directory = directory
        self.credentials = credentials
        self.running = Mutex(process)
        self.api = api
        self.keySeed = keySeed
    }

    /// Forgets every resource of every region (`POST /moto-api/reset`). That also deletes the IAM user,
    /// so signature checking is switched on again with the same ``credentials``. Send nothing else to
    /// the server meanwhile: a request could take one of the unauthenticated requests the setup needs.
    package func reset() async throws(LocalServerError) {
        try await api.reset()
        guard let authentication = options.authentication else { return }
        let again = try await api.enableAuthentication(authentication, keySeed: keySeed)
        guard again == credentials else {
            throw .requestFailed(
                server: "moto_server", request: "reset", reason: "moto handed out a different access key after the reset"
            )
        }
    }

    /// Stops moto (SIGTERM, then SIGKILL). Its state is gone; the log stays in ``directory``.
    package func stop() async {
        let process = running.withLock { current in
            defer { current = nil }
            return current
        }
        await process?.stop()
    }
}
