import Foundation
package import Logging
import Synchronization

/// An HTTP client for provider APIs, over libcurl.
///
/// All transfers of one client run on ONE thread it owns, multiplexed by a libcurl multi handle; callers
/// `await` ``send(_:signer:)`` from async code and never block. Idempotent requests are retried on 429,
/// 500/502/503/504 and transient transport failures with jittered exponential backoff (honouring
/// `Retry-After`), sleeping asynchronously between attempts. Every attempt is logged with secrets redacted.
/// Large bodies (VM images) are streamed with ``download(_:maxRedirects:allowRedirect:into:)`` instead.
/// Call ``shutdown()`` when done.
package final class HTTPClient: Sendable {
    /// Client-wide settings.
    package struct Configuration: Sendable {
        /// Connect timeout for requests that do not set their own.
        package var connectTimeout: Duration
        /// Per-attempt total timeout for requests that do not set their own (not for downloads).
        package var totalTimeout: Duration
        /// A download slower than this many bytes per second for ``downloadLowSpeedTime`` is aborted.
        package var downloadLowSpeedLimit: Int
        package var downloadLowSpeedTime: Duration
        package var retry: RetryPolicy
        /// Header names (any case) to redact from logs in addition to the built-in ones.
        package var sensitiveHeaders: Set<String>
        /// An explicit proxy URL; nil means no proxy at all (the environment's `http_proxy` is ignored).
        package var proxy: String?
        package var userAgent: String
        /// Most simultaneous connections to one host (0: unlimited); extra transfers wait in libcurl
        /// (the wait counts against their total timeout).
        package var maxConnectionsPerHost: Int
        /// The curl thread's name, as shown by `top -H` (Linux keeps the first 15 bytes).
        package var threadName: String

        package init(
            connectTimeout: Duration = .seconds(10),
            totalTimeout: Duration = .seconds(60),
            downloadLowSpeedLimit: Int = 1024,
            downloadLowSpeedTime: Duration = .seconds(30),
            retry: RetryPolicy = RetryPolicy(),
            sensitiveHeaders: Set<String> = [],
            proxy: String? = nil,
            userAgent: String = "paz-machine",
            maxConnectionsPerHost: Int = 0,
            threadName: String = "paz-http-curl"
        ) {
            self.connectTimeout = connectTimeout
            self.totalTimeout = totalTimeout
            self.downloadLowSpeedLimit = downloadLowSpeedLimit
            self.downloadLowSpeedTime = downloadLowSpeedTime
            self.retry = retry
            self.sensitiveHeaders = sensitiveHeaders
            self.proxy = proxy
            self.userAgent = userAgent
            self.maxConnectionsPerHost = maxConnectionsPerHost
            self.threadName = threadName
        }
    }

    private let configuration: Configuration
    private let logger: Logger
    private let loop = Mutex<LoopState>(.notStarted)

    private enum LoopState {
        case notStarted
        case running(CurlMultiLoop)
        case shutDown
    }

    /// A client; its curl thread starts, and libcurl is loaded, with the first request (a service
    /// that has sent none does not map libcurl and its dependencies).
    package init(configuration: Configuration = Configuration(), logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    deinit {
        if case .running(let loop) = loop.withLock({ $0 }) { loop.requestStop() }
    }

    /// Fails requests still in flight with ``HTTPClientError/shutDown`` and ends the curl thread.
    package func shutdown() async {
        let running = loop.withLock { state -> CurlMultiLoop? in
            defer { state = .shutDown }
            guard case .running(let loop) = state else { return nil }
            return loop
        }
        await running?.stop()
    }

    /// The curl thread, started by the first call; nil after ``shutdown()``.
    private func runningLoop() throws(HTTPClientError) -> CurlMultiLoop? {
        try loop.withLock { (state) throws(HTTPClientError) -> CurlMultiLoop? in
            switch state {
            case .running(let loop): return loop
            case .shutDown: return nil
            case .notStarted:
                let loop = try CurlMultiLoop(name: configuration.threadName, maxConnectionsPerHost: configuration.maxConnectionsPerHost)
                state = .running(loop)
                return loop
            }
        }
    }

    /// Sends `request`, retrying as the configuration's ``RetryPolicy`` allows when it is idempotent.
    ///
    /// `signer` runs before every attempt on a fresh copy of `request`. Any status is returned as a
    /// response, except that a retriable status (429, 5xx) still seen on the last allowed attempt throws
    /// ``HTTPClientError/gaveUp(attempts:lastResponse:)`` — for idempotent requests only: a POST that is
    /// not marked idempotent returns its 503 after one attempt.
    package func send(_ request: HTTPRequest, signer: (any HTTPRequestSigner)? = nil) async throws(HTTPClientError) -> HTTPResponse {
        let policy = configuration.retry
        let maxAttempts = request.idempotent ? policy.maxAttempts : 1
        var attempt = 0
        while true {
            attempt += 1
            var prepared = request
            if let signer {
                do {
                    try await signer.sign(&prepared, attempt: attempt)
                } catch {
                    throw .signingFailed("\(error)")
                }
            }
            let redactedURL = Redaction.url(prepared.url)
            var metadata: Logger.Metadata = [
                "http.method": "\(prepared.method)",
                "http.url": "\(redactedURL)",
                "http.attempt": "\(attempt)",
            ]
            logger.trace("HTTP request", metadata: metadata.merging([
                "http.request_headers": headerMetadata(prepared.headers, extra: prepared.sensitiveHeaders),
            ]) { $1 })

            let started = ContinuousClock.now
            let outcome = try await perform(prepared)
            metadata["http.duration_ms"] = "\(Self.milliseconds(ContinuousClock.now - started))"

            let retryDelay: Duration
            switch outcome {
            case .response(let response):
                metadata["http.status"] = "\(response.status)"
                logger.debug("HTTP response", metadata: metadata.merging([
                    "http.response_headers": headerMetadata(response.headers, extra: prepared.sensitiveHeaders),
                ]) { $1 })
                guard request.idempotent, RetryPolicy.isRetriableStatus(response.status) else { return response }
                guard attempt < maxAttempts else {
                    logger.warning("HTTP request gave up", metadata: metadata)
                    throw .gaveUp(attempts: attempt, lastResponse: response)
                }
                retryDelay = policy.delay(afterAttempt: attempt, response: response)
            case .failed(let failure):
                metadata["curl.code"] = "\(failure.code)"
                metadata["curl.error"] = "\(failure.message)"
                metadata["curl.detail"] = "\(failure.detail)"
                logger.warning("HTTP transport error", metadata: metadata)
                guard request.idempotent, failure.isRetriable, attempt < maxAttempts else {
                    throw .transport(failure, attempts: attempt)
                }
                retryDelay = policy.backoff(afterAttempt: attempt)
            case .cancelled:
                throw .cancelled
            case .shutDown:
                throw .shutDown
            case .stoppedBySink:
                throw .stoppedBySink
            }

            metadata["http.retry_in_ms"] = "\(Self.milliseconds(retryDelay))"
            logger.info("HTTP retry", metadata: metadata)
            do {
                try await Task.sleep(for: retryDelay)
            } catch {
                throw .cancelled
            }
        }
    }

    /// Streams the body of `request` (`http://`, `https://` or `file://`) to `sink`, in one attempt.
    ///
    /// `sink` runs on the curl thread for every chunk, in order, and returns false to abort (the download
    /// then throws ``HTTPClientError/stoppedBySink``); it holds up the client's other transfers while it
    /// runs, so it should only write and hash. There is no total timeout unless the request sets one:
    /// the connect timeout applies, and a download slower than the configured low-speed limit is aborted
    /// as a timeout. A status outside 2xx throws ``HTTPClientError/badStatus(_:)`` before any of its body
    /// reaches `sink`. Nothing is retried: a half-received body cannot be resumed safely, so the caller
    /// decides whether to start over.
    ///
    /// Redirects are followed here, not by libcurl: up to `maxRedirects` hops, to http/https only, each
    /// target (absolute, resolved against the URL that answered) first passed to `allowRedirect`; a
    /// target it refuses throws ``HTTPClientError/redirectRefused(_:)`` before any request is sent to it.
    /// A hop to another scheme, host or port drops the request's headers and its SigV4 signing (they
    /// carry credentials).
    package func download(
        _ request: HTTPRequest, maxRedirects: Int = 5, allowRedirect: @Sendable (String) -> Bool = { _ in true },
        into sink: @escaping @Sendable ([UInt8]) -> Bool
    ) async throws(HTTPClientError) -> HTTPResponseHead {
        var current = request
        var hops = 0
        while true {
            let response = try await downloadHop(current, sink: sink)
            guard (300..<400).contains(response.status), response.status != 304, let location = response.headers["Location"] else {
                guard current.url.lowercased().hasPrefix("file://") || (200..<300).contains(response.status) else {
                    throw .badStatus(response.status)
                }
                return HTTPResponseHead(status: response.status, headers: response.headers, totalSeconds: response.totalSeconds)
            }
            guard hops < maxRedirects else { throw .tooManyRedirects(maxRedirects) }
            guard let base = URL(string: current.url), let target = URL(string: location, relativeTo: base)?.absoluteURL,
                  let scheme = target.scheme?.lowercased(), scheme == "http" || scheme == "https"
            else {
                throw .invalidRequest("the server redirected to \(Redaction.url(location)), which is not an http:// or https:// URL")
            }
            let targetURL = target.absoluteString
            guard allowRedirect(targetURL) else { throw .redirectRefused(Redaction.url(targetURL)) }
            logger.debug("HTTP download redirected", metadata: [
                "http.url": "\(Redaction.url(current.url))", "http.status": "\(response.status)",
                "http.location": "\(Redaction.url(targetURL))",
            ])
            if Self.origin(base) != Self.origin(target) {
                current.headers = HTTPHeaders()
                current.awsSigV4 = nil
            }
            current.url = targetURL
            hops += 1
        }
    }

    /// One request of a download: the response (its body, if 2xx, went to `sink`) or the failure.
    private func downloadHop(_ request: HTTPRequest, sink: @escaping @Sendable ([UInt8]) -> Bool) async throws(HTTPClientError) -> HTTPResponse {
        var metadata: Logger.Metadata = ["http.method": "\(request.method)", "http.url": "\(Redaction.url(request.url))"]
        logger.trace("HTTP download", metadata: metadata.merging([
            "http.request_headers": headerMetadata(request.headers, extra: request.sensitiveHeaders),
        ]) { $1 })
        let started = ContinuousClock.now
        let outcome = try await perform(request, body: .streamed(sink))
        metadata["http.duration_ms"] = "\(Self.milliseconds(ContinuousClock.now - started))"
        switch outcome {
        case .response(let response):
            metadata["http.status"] = "\(response.status)"
            logger.debug("HTTP download finished", metadata: metadata)
            return response
        case .failed(let failure):
            metadata["curl.code"] = "\(failure.code)"
            metadata["curl.error"] = "\(failure.message)"
            metadata["curl.detail"] = "\(failure.detail)"
            logger.warning("HTTP download failed", metadata: metadata)
            throw .transport(failure, attempts: 1)
        case .cancelled:
            throw .cancelled
        case .shutDown:
            throw .shutDown
        case .stoppedBySink:
            throw .stoppedBySink
        }
    }

    /// Scheme, lowercased host and port (explicit or the scheme's default) of `url`.
    private static func origin(_ url: URL) -> String {
        let scheme = url.scheme?.lowercased() ?? ""
        return "\(scheme)://\(url.host?.lowercased() ?? ""):\(url.port ?? (scheme == "https" ? 443 : 80))"
    }

    /// One attempt on the curl thread; cancelling the calling task aborts the transfer.
    private func perform(_ request: HTTPRequest, body: TransferBody = .buffered) async throws(HTTPClientError) -> TransferOutcome {
        guard let loop = try runningLoop() else { return .shutDown }
        let transfer = try CurlTransfer(
            request: request,
            settings: TransferSettings(
                connectTimeout: configuration.connectTimeout,
                totalTimeout: configuration.totalTimeout,
                lowSpeedLimit: configuration.downloadLowSpeedLimit,
                lowSpeedTime: configuration.downloadLowSpeedTime,
                proxy: configuration.proxy,
                userAgent: configuration.userAgent
            ),
            body: body
        )
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<TransferOutcome, Never>) in
                transfer.onComplete = { continuation.resume(returning: $0) }
                if !loop.submit(transfer) {
                    transfer.complete(.shutDown)
                }
            }
        } onCancel: {
            loop.cancel(transfer)
        }
    }

    private func headerMetadata(_ headers: HTTPHeaders, extra: Set<String>) -> Logger.MetadataValue {
        let redacted = Redaction.headers(headers, extra: configuration.sensitiveHeaders.union(extra))
        return .array(redacted.map { .string("\($0.name): \($0.value)") })
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        Int((duration.seconds * 1000).rounded())
    }
}
