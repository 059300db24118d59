import CCurl
import Foundation

/// How one attempt ended, as seen by the curl thread.
enum TransferOutcome: Sendable {
    case response(HTTPResponse)
    case failed(CurlFailure)
    case cancelled
    case shutDown
    /// A download's sink returned false.
    case stoppedBySink
}

/// Settings an easy handle takes from the client.
struct TransferSettings: Sendable {
    var connectTimeout: Duration
    var totalTimeout: Duration
    var lowSpeedLimit: Int
    var lowSpeedTime: Duration
    var proxy: String?
    var userAgent: String
}

/// What a transfer does with the response body.
enum TransferBody: Sendable {
    /// Kept in memory and returned in the response (provider API calls: http/https only, the total
    /// timeout applies, redirects are not followed).
    case buffered
    /// Handed to the sink chunk by chunk on the curl thread (downloads: also `file://`, no total
    /// timeout unless the request sets one, a low-speed limit; a redirect is a response, never followed here).
    case streamed(@Sendable ([UInt8]) -> Bool)
}

/// One easy handle with the buffers libcurl writes into and the header list it reads.
///
/// `@unchecked Sendable`: the handle is configured by the submitting task before it is handed to the
/// curl thread (through a lock, which orders the writes); from then on only the curl thread touches the
/// handle, the buffers and `onComplete`, until `complete` hands the result out by value. `cancelRequested`
/// is read and written only under the loop's lock.
final class CurlTransfer: @unchecked Sendable {
    /// The `CURL *` easy handle.
    let handle: UnsafeMutableRawPointer
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer: UnsafeMutablePointer<CChar>
    private let body: TransferBody
    private let isFileURL: Bool
    private var responseBody = Data()
    private var responseHeaders = HTTPHeaders()
    /// Streamed transfers: the status was checked before the first chunk reached the sink.
    private var statusChecked = false
    /// Streamed transfers: the sink returned false.
    private var stoppedBySink = false
    /// Called exactly once, with the outcome.
    var onComplete: (@Sendable (TransferOutcome) -> Void)?
    /// Set when the caller's task is cancelled (guarded by the loop's lock).
    var cancelRequested = false

    /// Creates and configures an easy handle for `request`.
    init(request: HTTPRequest, settings: TransferSettings, body: TransferBody = .buffered) throws(HTTPClientError) {
        let lowercasedURL = request.url.lowercased()
        isFileURL = lowercasedURL.hasPrefix("file://")
        if case .streamed = body {
            guard isFileURL || lowercasedURL.hasPrefix("http://") || lowercasedURL.hasPrefix("https://") else {
                throw .invalidRequest("download URL must start with http://, https:// or file://: \(Redaction.url(request.url))")
            }
        } else {
            guard lowercasedURL.hasPrefix("http://") || lowercasedURL.hasPrefix("https://") else {
                throw .invalidRequest("URL must start with http:// or https://: \(Redaction.url(request.url))")
            }
        }
        try Self.validate(request)
        self.body = body
        guard let handle = paz_curl_easy_init() else {
            throw .setupFailed("curl_easy_init failed (out of memory?)")
        }
        self.handle = handle
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE))
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
        try configure(request: request, settings: settings)
    }

    deinit {
        paz_curl_easy_cleanup(handle)
        paz_curl_slist_free_all(headerList)
        errorBuffer.deallocate()
    }

    /// Runs `onComplete` once; the curl thread calls it after removing the handle from the multi handle.
    func complete(_ outcome: TransferOutcome) {
        let callback = onComplete
        onComplete = nil
        callback?(outcome)
    }

    /// The outcome of a transfer libcurl reports as finished with `code`.
    func outcome(code: CURLcode) -> TransferOutcome {
        if stoppedBySink { return .stoppedBySink }
        // A streamed transfer aborts (CURLE_WRITE_ERROR) on an error status, before the error body
        // reaches the sink: the status is the outcome.
        let rejectedStatus = statusChecked && code == CURLE_WRITE_ERROR
        guard code == CURLE_OK || rejectedStatus else {
            let message = String(cString: paz_curl_easy_strerror(code))
            let detail = String(cString: errorBuffer)
            return .failed(CurlFailure(code: Int(code.rawValue), message: message, detail: detail, kind: Self.kind(of: code)))
        }
        var status = 0
        var seconds = 0.0
        _ = paz_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        _ = paz_curl_easy_getinfo_double(handle, CURLINFO_TOTAL_TIME, &seconds)
        return .response(HTTPResponse(status: status, headers: responseHeaders, body: responseBody, totalSeconds: seconds))
    }

    // MARK: - Setup

    private static func validate(_ request: HTTPRequest) throws(HTTPClientError) {
        // Unicode scalars, not Characters: "\r\n" is a single Character in Swift.
        let isControl: (Unicode.Scalar) -> Bool = { $0 == "\r" || $0 == "\n" || $0 == "\0" }
        guard !request.url.unicodeScalars.contains(where: { isControl($0) || $0 == " " }) else {
            throw .invalidRequest("URL contains spaces or control characters; percent-encode it")
        }
        guard !request.method.rawValue.isEmpty, request.method.rawValue.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic && $0.isASCII }) else {
            throw .invalidRequest("method \"\(request.method)\" is not a valid HTTP method token")
        }
        for field in request.headers {
            guard !field.name.isEmpty, !field.name.unicodeScalars.contains(where: { isControl($0) || $0 == ":" || $0 == " " }) else {
                throw .invalidRequest("header name \"\(field.name)\" is empty or contains ':', a space or a line break")
            }
            guard !field.value.unicodeScalars.contains(where: isControl) else {
                throw .invalidRequest("the value of header \(field.name) contains a line break")
            }
        }
        try request.awsSigV4?.validate(headers: request.headers)
    }

    private func configure(request: HTTPRequest, settings: TransferSettings) throws(HTTPClientError) {
        try set(CURLOPT_URL, request.url)
        try set(CURLOPT_REDIR_PROTOCOLS_STR, "http,https")
        try set(CURLOPT_NOSIGNAL, 1)
        try set(CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(request.connectTimeout ?? settings.connectTimeout))
        switch body {
        case .buffered:
            try set(CURLOPT_PROTOCOLS_STR, "http,https")
            try set(CURLOPT_TIMEOUT_MS, Self.milliseconds(request.totalTimeout ?? settings.totalTimeout))
        case .streamed:
            try set(CURLOPT_PROTOCOLS_STR, "http,https,file")
            // 0 is no total timeout; a stalled download is caught by the low-speed limit instead.
            try set(CURLOPT_TIMEOUT_MS, request.totalTimeout.map(Self.milliseconds) ?? 0)
            try set(CURLOPT_LOW_SPEED_LIMIT, settings.lowSpeedLimit)
            try set(CURLOPT_LOW_SPEED_TIME, max(1, Int(settings.lowSpeedTime.seconds.rounded(.up))))
            // Redirects are followed by HTTPClient.download, which checks every hop before it is sent.
            try set(CURLOPT_FOLLOWLOCATION, 0)
        }
        try set(CURLOPT_USERAGENT, settings.userAgent)
        try set(CURLOPT_ACCEPT_ENCODING, "")
        if let proxy = settings.proxy {
            try set(CURLOPT_PROXY, proxy)
        } else {
            // Never pick a proxy up from http_proxy/https_proxy: traffic goes where the URL says.
            try set(CURLOPT_PROXY, "")
            try set(CURLOPT_NOPROXY, "*")
        }
        try check(paz_curl_easy_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer), CURLOPT_ERRORBUFFER)
        if let sigV4 = request.awsSigV4 {
            // libcurl signs as it sends (Host, the caller's headers, the POSTFIELDS body) and adds
            // Authorization and X-Amz-Date; the key id and secret go in as user name and password.
            try set(CURLOPT_AWS_SIGV4, sigV4.provider)
            try set(CURLOPT_USERNAME, sigV4.credentials.accessKeyId)
            try set(CURLOPT_PASSWORD, sigV4.credentials.secretAccessKey)
        }

        let context = Unmanaged.passUnretained(self).toOpaque()
        try check(paz_curl_easy_setopt_data_callback(handle, CURLOPT_WRITEFUNCTION, { data, size, count, context in
            guard let data, let context else { return 0 }
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
            let length = size * count
            return data.withMemoryRebound(to: UInt8.self, capacity: length) {
                transfer.receivedBody(UnsafeBufferPointer(start: $0, count: length)) ? length : 0
            }
        }), CURLOPT_WRITEFUNCTION)
        try check(paz_curl_easy_setopt_pointer(handle, CURLOPT_WRITEDATA, context), CURLOPT_WRITEDATA)
        try check(paz_curl_easy_setopt_data_callback(handle, CURLOPT_HEADERFUNCTION, { data, size, count, context in
            guard let data, let context else { return 0 }
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(context).takeUnretainedValue()
            let length = size * count
            let line = data.withMemoryRebound(to: UInt8.self, capacity: length) {
                String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
            }
            transfer.receivedHeaderLine(line)
            return length
        }), CURLOPT_HEADERFUNCTION)
        try check(paz_curl_easy_setopt_pointer(handle, CURLOPT_HEADERDATA, context), CURLOPT_HEADERDATA)

        try configureMethodAndBody(request)
        try configureHeaders(request)
    }

    private func configureMethodAndBody(_ request: HTTPRequest) throws(HTTPClientError) {
        let method = request.method
        if method == .head {
            try set(CURLOPT_NOBODY, 1)
            return
        }
        if !request.body.isEmpty || method == .post || method == .put || method == .patch {
            // POSTFIELDSIZE first, so COPYPOSTFIELDS copies exactly that many bytes (binary-safe).
            try check(paz_curl_easy_setopt_off_t(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)),
                      CURLOPT_POSTFIELDSIZE_LARGE)
            if request.body.isEmpty {
                try set(CURLOPT_COPYPOSTFIELDS, "")
            } else {
                let code = request.body.withUnsafeBytes { bytes in
                    paz_curl_easy_setopt_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: bytes.baseAddress))
                }
                try check(code, CURLOPT_COPYPOSTFIELDS)
            }
        }
        if method != .get && method != .post {
            try set(CURLOPT_CUSTOMREQUEST, method.rawValue)
        } else if method == .get && !request.body.isEmpty {
            try set(CURLOPT_CUSTOMREQUEST, "GET")
        }
    }

    private func configureHeaders(_ request: HTTPRequest) throws(HTTPClientError) {
        var lines = request.headers.map { field in
            // "Name:" would make libcurl drop the header; "Name;" sends it with an empty value.
            field.value.isEmpty ? "\(field.name);" : "\(field.name): \(field.value)"
        }
        // libcurl would add "Expect: 100-continue" to large bodies (an extra round trip) and a form
        // Content-Type to POSTs; send neither unless the caller asked. Not when signing with SigV4:
        // libcurl 7.88 would sign these removal lines as empty headers the server never receives.
        if request.awsSigV4 == nil {
            if !request.headers.contains("Expect") { lines.append("Expect:") }
            if !request.headers.contains("Content-Type") { lines.append("Content-Type:") }
        }
        for line in lines {
            guard let appended = paz_curl_slist_append(headerList, line) else {
                throw .setupFailed("curl_slist_append failed (out of memory?)")
            }
            headerList = appended
        }
        try check(paz_curl_easy_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList), CURLOPT_HTTPHEADER)
    }

    private func set(_ option: CURLoption, _ value: String) throws(HTTPClientError) {
        try check(paz_curl_easy_setopt_string(handle, option, value), option)
    }

    private func set(_ option: CURLoption, _ value: Int) throws(HTTPClientError) {
        try check(paz_curl_easy_setopt_long(handle, option, value), option)
    }

    private func check(_ code: CURLcode, _ option: CURLoption) throws(HTTPClientError) {
        guard code == CURLE_OK else {
            throw .setupFailed("curl_easy_setopt(\(option.rawValue)) failed: \(String(cString: paz_curl_easy_strerror(code)))")
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        max(1, Int((duration.seconds * 1000).rounded(.up)))
    }

    // MARK: - Callbacks (curl thread)

    /// Keeps or streams a chunk of the body; false aborts the transfer.
    private func receivedBody(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        switch body {
        case .buffered:
            responseBody.append(bytes)
            return true
        case .streamed(let sink):
            if !statusChecked {
                statusChecked = true
                var status = 0
                _ = paz_curl_easy_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
                // file:// has no status (0). A 3xx is a response too (its body is not read): HTTPClient follows it.
                guard isFileURL || (200..<300).contains(status) else { return false }
            }
            guard sink(Array(bytes)) else {
                stoppedBySink = true
                return false
            }
            return true
        }
    }

    private func receivedHeaderLine(_ raw: String) {
        let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if line.hasPrefix("HTTP/") {
            // A new response starts (after "100 Continue" or an informational response): keep only its fields.
            responseHeaders = HTTPHeaders()
            return
        }
        guard let colon = line.firstIndex(of: ":") else { return }
        let name = String(line[..<colon]).trimmingCharacters(in: .whitespaces)
        let value = String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
        responseHeaders.add(name, value)
    }

    private static func kind(of code: CURLcode) -> HTTPTransportFailureKind {
        switch code {
        case CURLE_OPERATION_TIMEDOUT:
            .timeout
        case CURLE_COULDNT_CONNECT, CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            .connect
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2, CURLE_HTTP2_STREAM:
            .connectionLost
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
             CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_CRL_BADFILE:
            .tls
        default:
            .other
        }
    }
}
