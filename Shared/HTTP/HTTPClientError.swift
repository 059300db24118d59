/// What kind of transport failure libcurl reported.
package enum HTTPTransportFailureKind: String, Sendable {
    /// The connect or total timeout expired (CURLE_OPERATION_TIMEDOUT).
    case timeout
    /// The host could not be resolved or refused/failed the connection (CURLE_COULDNT_CONNECT, …).
    case connect
    /// The connection broke while sending or receiving (CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING…).
    case connectionLost
    /// TLS handshake or certificate verification failed.
    case tls
    /// Anything else (bad URL, unsupported protocol, out of memory…).
    case other
}

/// A libcurl error: its code, its generic text (`curl_easy_strerror`) and the specific detail it wrote
/// into the transfer's error buffer.
package struct CurlFailure: Sendable, Equatable {
    /// The `CURLcode` value.
    package var code: Int
    /// `curl_easy_strerror(code)`.
    package var message: String
    /// The CURLOPT_ERRORBUFFER text (may be empty).
    package var detail: String
    package var kind: HTTPTransportFailureKind

    package init(code: Int, message: String, detail: String, kind: HTTPTransportFailureKind) {
        self.code = code
        self.message = message
        self.detail = detail
        self.kind = kind
    }

    /// Timeouts, refused connections and broken connections may succeed on another attempt.
    package var isRetriable: Bool {
        switch kind {
        case .timeout, .connect, .connectionLost: true
        case .tls, .other: false
        }
    }
}

/// Why an HTTP request failed. A response with an error status is NOT an error unless retries on it
/// were exhausted (``gaveUp(attempts:lastResponse:)``): the caller inspects `status`. Downloads are the
/// exception: their error status is ``badStatus(_:)``, since the body went nowhere.
package enum HTTPClientError: Error, Sendable, CustomStringConvertible {
    /// libcurl could not complete the transfer (after `attempts` attempts).
    case transport(CurlFailure, attempts: Int)
    /// Every allowed attempt answered 429 or 5xx; carries the last response.
    case gaveUp(attempts: Int, lastResponse: HTTPResponse)
    /// The request is malformed (scheme not http/https, a header containing a line break…).
    case invalidRequest(String)
    /// The request signer threw.
    case signingFailed(String)
    /// The calling task was cancelled; the transfer was aborted.
    case cancelled
    /// The client was shut down before the request could complete.
    case shutDown
    /// libcurl could not allocate or configure a handle.
    case setupFailed(String)
    /// A download was answered with this status outside 2xx (after redirects); nothing reached the sink.
    case badStatus(Int)
    /// A download's sink returned false.
    case stoppedBySink
    /// A download was redirected to this (redacted) URL, which its `allowRedirect` check refused; no
    /// request was sent to it.
    case redirectRefused(String)
    /// A download was redirected more than this many times.
    case tooManyRedirects(Int)

    /// True when sending the same request later may succeed (transient network trouble, throttling, 5xx).
    package var isRetriable: Bool {
        switch self {
        case .transport(let failure, _): failure.isRetriable
        case .gaveUp: true
        case .badStatus(let status): status == 408 || RetryPolicy.isRetriableStatus(status)
        case .invalidRequest, .signingFailed, .cancelled, .shutDown, .setupFailed, .stoppedBySink, .redirectRefused,
             .tooManyRedirects: false
        }
    }

    package var description: String {
        switch self {
        case .transport(let failure, let attempts):
            let detail = failure.detail.isEmpty ? "" : " (\(failure.detail))"
            let tries = attempts > 1 ? " after \(attempts) attempts" : ""
            return "HTTP transport error\(tries): curl \(failure.code) \(failure.message)\(detail). \(advice(for: failure.kind))"
        case .gaveUp(let attempts, let response):
            return "gave up after \(attempts) attempts: last status \(response.status). The server is throttling "
                + "or failing; try again later or raise the retry limits."
        case .invalidRequest(let reason):
            return "invalid HTTP request: \(reason)"
        case .signingFailed(let reason):
            return "could not sign the HTTP request: \(reason). Check the provider credentials."
        case .cancelled:
            return "HTTP request cancelled"
        case .shutDown:
            return "the HTTP client was shut down before the request completed"
        case .setupFailed(let reason):
            return "libcurl set-up failed: \(reason)"
        case .badStatus(let status):
            return "the server answered HTTP \(status)"
                + (status == 404 || status == 410 ? ": nothing at that URL; check it." : ", not a 2xx success.")
        case .stoppedBySink:
            return "the download was stopped by its receiver"
        case .redirectRefused(let url):
            return "the server redirected to \(url), which this download may not fetch; nothing was requested from it"
        case .tooManyRedirects(let limit):
            return "the server redirected more than \(limit) times; check the URL"
        }
    }

    private func advice(for kind: HTTPTransportFailureKind) -> String {
        switch kind {
        case .timeout: "The server did not answer in time; check it is up or raise the timeout."
        case .connect: "Check the host and port, and that the server is running and reachable."
        case .connectionLost: "The connection dropped; the server may have restarted."
        case .tls: "Check the server certificate and the CA bundle (verification is never disabled)."
        case .other: "Check the request URL and options."
        }
    }
}
