import Crypto
package import Foundation
package import Logging
package import PazDriverKit
package import PazHTTP
import Synchronization

/// The digest an image must have: `sha256:<64 hex>`, bare 64 hex (SHA-256), or `sha512:<128 hex>`
/// (Debian and Flatcar publish SHA-512 sums). Hex digits in any case; kept lowercase.
package struct ImageDigest: Sendable, Hashable, CustomStringConvertible {
    package enum Algorithm: String, Sendable, Hashable, Codable {
        case sha256, sha512

        /// Hex digits in a digest of this algorithm.
        package var hexLength: Int { self == .sha256 ? 64 : 128 }
    }

    package let algorithm: Algorithm
    /// Lowercase hex.
    package let hex: String

    /// Parses the `image-digest` option.
    package init(parsing text: String) throws(ImageCacheError) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        var algorithm = Algorithm.sha256
        var hex = Substring(trimmed)
        if let colon = trimmed.firstIndex(of: ":") {
            let name = trimmed[..<colon].lowercased()
            guard let named = Algorithm(rawValue: name) else {
                throw .invalidDigest(text, reason: "unknown algorithm \"\(name)\"; use sha256:<64 hex digits> or sha512:<128 hex digits>")
            }
            algorithm = named
            hex = trimmed[trimmed.index(after: colon)...]
        }
        guard hex.count == algorithm.hexLength, hex.allSatisfy({ $0.isASCII && $0.isHexDigit }) else {
            throw .invalidDigest(text, reason: "\(algorithm) takes exactly \(algorithm.hexLength) hex digits (got \(hex.count) characters)")
        }
        self.algorithm = algorithm
        self.hex = hex.lowercased()
    }

    init(algorithm: Algorithm, bytes: some Sequence<UInt8>) {
        self.algorithm = algorithm
        hex = Self.hex(bytes)
    }

    /// `sha256:<hex>` or `sha512:<hex>`.
    package var description: String { "\(algorithm.rawValue):\(hex)" }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes { text += [digits[Int(byte >> 4)], digits[Int(byte & 0xf)]] }
        return String(decoding: text, as: UTF8.self)
    }
}

/// Why a base image could not be provided. Messages say what to change; URLs in them are redacted.
package enum ImageCacheError: Error, Sendable, CustomStringConvertible {
    /// The `image-digest` option is not a digest we understand.
    case invalidDigest(String, reason: String)
    /// The `image-url` option is not http://, https:// or file://.
    case unsupportedURL(String)
    /// The operator's ``ImageSourcePolicy`` does not allow this URL (or a redirect to it); nothing was
    /// requested from it. `setting` is what the operator would change.
    case sourceNotAllowed(url: String, reason: String, setting: ImageSourcePolicy.Setting)
    /// The download grew past `limit` bytes (``ImageSourcePolicy/maxBytes``); its partial file was removed.
    case tooLarge(url: String, limit: Int64)
    /// The downloaded bytes have another digest; nothing was cached. The computed digest is not kept:
    /// it would tell the tenant the hash of a file they may not be able to read.
    case digestMismatch(url: String, expected: ImageDigest)
    /// The download failed (network, HTTP status, unreadable file); nothing was cached.
    case downloadFailed(url: String, HTTPClientError)
    /// Reading or writing the cache directory failed.
    case filesystem(String)
    /// The calling task was cancelled.
    case cancelled

    package var description: String {
        switch self {
        case .invalidDigest(let text, let reason):
            "image digest \"\(text)\" is not valid: \(reason)"
        case .unsupportedURL(let url):
            "image URL \(url) is not supported: use an https://, http:// or file:// URL"
        case .sourceNotAllowed(let url, let reason, let setting):
            "image URL \(url) is not allowed: \(reason). Where images may come from is the QEMU driver operator's "
                + "setting \(setting.display); nothing was fetched"
        case .tooLarge(let url, let limit):
            "image \(url) is larger than \(limit) bytes, the limit of the QEMU driver operator's setting "
                + "\(ImageSourcePolicy.Setting.maxBytes.display); the download was stopped and nothing was cached"
        case .digestMismatch(let url, let expected):
            "the image's digest does not match image-digest (\(expected)) for \(url): the option is wrong or the "
                + "download was corrupted; nothing was cached"
        case .downloadFailed(let url, let error):
            "could not download image \(url): \(error); nothing was cached"
        case .filesystem(let message):
            "image cache: \(message)"
        case .cancelled:
            "the image download was cancelled"
        }
    }

    /// The driver-facing error: the user's options are wrong (`invalidArgument` naming `image-url` or
    /// `image-digest`), the source is unreachable for now (`providerUnavailable`, retried), or our disk
    /// failed (`internal`).
    package var driverError: DriverError {
        switch self {
        case .invalidDigest, .digestMismatch:
            return .invalidArgument(field: "image-digest", message: description)
        case .unsupportedURL, .sourceNotAllowed, .tooLarge:
            return .invalidArgument(field: "image-url", message: description)
        case .downloadFailed(let url, let error):
            switch error {
            case .badStatus where !error.isRetriable, .invalidRequest, .tooManyRedirects:
                return .invalidArgument(field: "image-url", message: description)
            case .transport(let failure, _) where url.lowercased().hasPrefix("file://") && !failure.isRetriable:
                return .invalidArgument(field: "image-url", message: description)
            default:
                return .providerUnavailable(description)
            }
        case .filesystem:
            return .internal(description)
        case .cancelled:
            return .providerUnavailable(description)
        }
    }
}

/// Verified base images on local disk, keyed by URL and digest.
///
/// An entry is `<algorithm>-<digest hex>-<first 16 hex of SHA-256(url)>.img` in ``directory`` (mode
/// 0700). A miss downloads into `.partial-<uuid>` in the same directory, hashing every chunk as it is
/// written, fsyncs, compares the digest and only then renames the file into place; so an entry that
/// exists was verified and is trusted without hashing it again, and a wrong digest or failed download
/// leaves nothing behind. `file://` URLs take the same path (copy and verify). Nothing is retried: a
/// transient failure maps to a retriable ``DriverError`` and the whole command is retried.
///
/// Every URL, cached or not, is first checked against the operator's ``ImageSourcePolicy`` (and every
/// redirect hop of a download again); a download is stopped once it exceeds the policy's size limit.
///
/// Concurrent callers for one entry in this process share one download. Across processes, the
/// download runs under an exclusive `flock` on `<entry>.lock` (re-checking for the entry once the lock
/// is held), so a second process waits and then reuses the first one's file.
package final class ImageCache: Sendable {
    package let directory: URL
    /// Where images may come from and how large they may be.
    package let sources: ImageSourcePolicy
    private let http: HTTPClient
    private let logger: Logger
    private let downloads = Mutex(Downloads())

    /// What a caller does for an entry: download it, or take the result of the caller that did.
    private enum Turn {
        case lead
        case done(Result<URL, ImageCacheError>)
    }

    /// Entries being downloaded by this process, each with the callers waiting for it.
    private struct Downloads {
        var waiters: [String: [UInt64: CheckedContinuation<Turn, Never>]] = [:]
        var nextWaiter: UInt64 = 0
    }

    /// A cache in `directory` (created on first download); `http` fetches the http(s):// and file://
    /// URLs `sources` allows.
    package init(directory: URL, sources: ImageSourcePolicy, http: HTTPClient, logger: Logger) {
        self.directory = directory
        self.sources = sources
        self.http = http
        self.logger = logger
    }

    /// Checks `url` against ``sources`` without fetching anything (create calls it before it makes
    /// anything); ``baseImage(url:digest:)`` checks again.
    package func check(url: String) throws(ImageCacheError) {
        _ = try sources.permit(url)
    }

    /// The path of the verified image at `url` with `digest`, downloading it on a miss.
    package func baseImage(url: String, digest: ImageDigest) async throws(ImageCacheError) -> URL {
        let source = try sources.permit(url)
        let entry = directory.appendingPathComponent(Self.entryName(url: url, digest: digest))
        if Self.isFile(entry) {
            logger.debug("image cache hit", metadata: ["image.url": "\(Redaction.url(url))", "image.file": "\(entry.path)"])
            return entry
        }
        while true {
            switch await turn(for: entry.lastPathComponent) {
            case .lead:
                let result: Result<URL, ImageCacheError>
                do throws(ImageCacheError) {
                    result = .success(try await fetchLocked(url: url, source: source, digest: digest, entry: entry))
                } catch {
                    result = .failure(error)
                }
                finish(entry.lastPathComponent, result)
                return try result.get()
            case .done(.failure(.cancelled)) where !Task.isCancelled:
                continue  // the downloading caller was cancelled, not this one: try again
            case .done(let result):
                return try result.get()
            }
        }
    }

    /// `<algorithm>-<digest hex>-<first 16 hex of SHA-256(url)>.img`.
    package static func entryName(url: String, digest: ImageDigest) -> String {
        let urlHash = ImageDigest.hex(SHA256.hash(data: Data(url.utf8)).prefix(8))
        return "\(digest.algorithm.rawValue)-\(digest.hex)-\(urlHash).img"
    }

    // MARK: - One download per entry in this process

    /// Makes the caller the downloader of `key`, or waits for the one already downloading it.
    private func turn(for key: String) async -> Turn {
        let id = downloads.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
                let immediate = downloads.withLock { state -> Turn? in
                    guard state.waiters[key] != nil else {
                        state.waiters[key] = [:]
                        return .lead
                    }
                    if Task.isCancelled { return .done(.failure(.cancelled)) }
                    state.waiters[key]?[id] = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = downloads.withLock { $0.waiters[key]?.removeValue(forKey: id) }
            waiter?.resume(returning: .done(.failure(.cancelled)))
        }
    }

    /// Hands the downloader's result to everyone waiting for `key`.
    private func finish(_ key: String, _ result: Result<URL, ImageCacheError>) {
        let waiters = downloads.withLock { $0.waiters.removeValue(forKey: key) } ?? [:]
        for waiter in waiters.values { waiter.resume(returning: .done(result)) }
    }

    // MARK: - Download under the cross-process lock

    private func fetchLocked(url: String, source: String, digest: ImageDigest, entry: URL) async throws(ImageCacheError) -> URL {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .filesystem("could not create \(directory.path): \(error.localizedDescription)")
        }
        let lock: HostFileLock
        do throws(HostFileLock.Failure) {
            lock = try await HostFileLock.acquire(entry.path + ".lock")
        } catch {
            switch error {
            case .cancelled: throw .cancelled
            case .filesystem(let message): throw .filesystem(message)
            }
        }
        defer { lock.release() }
        if Self.isFile(entry) {
            logger.info("image cached by another process", metadata: ["image.url": "\(Redaction.url(url))", "image.file": "\(entry.path)"])
            return entry
        }
        try await download(url: url, source: source, digest: digest, to: entry)
        return entry
    }

    /// Downloads `source` (what ``ImageSourcePolicy/permit(_:)`` made of `url`) into `entry`.
    private func download(url: String, source: String, digest: ImageDigest, to entry: URL) async throws(ImageCacheError) {
        let partial = directory.appendingPathComponent(".partial-\(UUID().uuidString)")
        var metadata: Logger.Metadata = [
            "image.url": "\(Redaction.url(url))", "image.digest": "\(digest)", "image.file": "\(entry.path)",
        ]
        let writer = try ImageWriter(path: partial.path, algorithm: digest.algorithm, maxBytes: sources.maxBytes)
        var kept = false
        defer {
            writer.close()
            if !kept { unlink(partial.path) }
        }
        logger.info("image download started", metadata: metadata)
        let started = ContinuousClock.now
        let sources = self.sources
        do throws(HTTPClientError) {
            _ = try await http.download(HTTPRequest(url: source), allowRedirect: { sources.refusal(http: $0) == nil }) { writer.write($0) }
        } catch .stoppedBySink {
            switch writer.failure {
            case .tooLarge:
                logger.warning("image download stopped: larger than the limit", metadata: metadata)
                throw .tooLarge(url: Redaction.url(url), limit: sources.maxBytes)
            case .write(let message): throw .filesystem(message)
            case nil: throw .filesystem("writing \(partial.path) failed")
            }
        } catch .redirectRefused(let target) {
            metadata["image.redirect"] = "\(target)"
            logger.warning("image download redirected to a source that is not allowed", metadata: metadata)
            throw .sourceNotAllowed(
                url: target, reason: "\(Redaction.url(url)) redirected there, and \(sources.refusal(http: target) ?? "it is not allowed")",
                setting: .urlPrefixes)
        } catch .cancelled {
            throw .cancelled
        } catch {
            throw .downloadFailed(url: Redaction.url(url), error)
        }
        let (actual, bytes) = try writer.finish()
        let seconds = (ContinuousClock.now - started) / .seconds(1)
        metadata["image.bytes"] = "\(bytes)"
        metadata["image.seconds"] = "\((seconds * 10).rounded() / 10)"
        guard actual == digest else {
            logger.warning("image digest mismatch", metadata: metadata)
            throw .digestMismatch(url: Redaction.url(url), expected: digest)
        }
        guard rename(partial.path, entry.path) == 0 else {
            throw .filesystem("could not rename \(partial.path) to \(entry.path): \(String(cString: strerror(errno)))")
        }
        kept = true
        logger.info("image downloaded", metadata: metadata)
    }

    private static func isFile(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }
}

/// The partial file a download writes and hashes, chunk by chunk, on the HTTP client's curl thread.
private final class ImageWriter: Sendable {
    /// Why ``write(_:)`` stopped the download.
    enum Failure {
        /// The image grew past the size limit.
        case tooLarge
        /// Writing the file failed.
        case write(String)
    }

    private struct State {
        var handle: FileHandle?
        var hasher: StreamingHash
        var bytes: Int64 = 0
        var failure: Failure?
    }

    private let path: String
    private let maxBytes: Int64
    private let state: Mutex<State>

    /// Creates `path` (mode 0600, must not exist); writing more than `maxBytes` in all stops the download.
    init(path: String, algorithm: ImageDigest.Algorithm, maxBytes: Int64) throws(ImageCacheError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .filesystem("could not create \(path): \(String(cString: strerror(errno)))")
        }
        self.path = path
        self.maxBytes = maxBytes
        state = Mutex(State(handle: FileHandle(fileDescriptor: descriptor, closeOnDealloc: true), hasher: StreamingHash(algorithm)))
    }

    /// The download sink: appends and hashes `chunk`; false (stop) once a write failed or the image
    /// would grow past the size limit (the chunk is then not written).
    func write(_ chunk: [UInt8]) -> Bool {
        state.withLock { state in
            guard let handle = state.handle, state.failure == nil else { return false }
            guard Int64(chunk.count) <= maxBytes - state.bytes else {
                state.failure = .tooLarge
                return false
            }
            do {
                try handle.write(contentsOf: chunk)
            } catch {
                state.failure = .write("could not write \(path): \(error.localizedDescription) (is the disk full?)")
                return false
            }
            state.hasher.update(chunk)
            state.bytes += Int64(chunk.count)
            return true
        }
    }

    /// Why ``write(_:)`` stopped the download.
    var failure: Failure? { state.withLock { $0.failure } }

    /// Flushes the file to disk and returns the digest of everything written and its size.
    func finish() throws(ImageCacheError) -> (ImageDigest, Int64) {
        let outcome = state.withLock { state -> Result<(ImageDigest, Int64), ImageCacheError> in
            do {
                try state.handle?.synchronize()
            } catch {
                return .failure(.filesystem("could not flush \(path) to disk: \(error.localizedDescription)"))
            }
            return .success((state.hasher.finalize(), state.bytes))
        }
        return try outcome.get()
    }

    func close() {
        state.withLock { state in
            try? state.handle?.close()
            state.handle = nil
        }
    }
}

/// SHA-256 or SHA-512, fed incrementally.
private enum StreamingHash {
    case sha256(SHA256)
    case sha512(SHA512)

    init(_ algorithm: ImageDigest.Algorithm) {
        switch algorithm {
        case .sha256: self = .sha256(SHA256())
        case .sha512: self = .sha512(SHA512())
        }
    }

    mutating func update(_ bytes: [UInt8]) {
        switch self {
        case .sha256(var hasher):
            hasher.update(data: bytes)
            self = .sha256(hasher)
        case .sha512(var hasher):
            hasher.update(data: bytes)
            self = .sha512(hasher)
        }
    }

    func finalize() -> ImageDigest {
        switch self {
        case .sha256(let hasher): ImageDigest(algorithm: .sha256, bytes: hasher.finalize())
        case .sha512(let hasher): ImageDigest(algorithm: .sha512, bytes: hasher.finalize())
        }
    }
}
