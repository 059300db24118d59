import Foundation
package import PazDriverKit
import PazHTTP
import PazServiceKit
#if canImport(CDispatch)
// On Linux the Swift toolchain's CDispatch clang module owns Glibc's `struct stat` (see ImageCache.swift).
import CDispatch
#endif

/// Where the QEMU driver may take base images from, and how large they may be: operator settings
/// (``QEMUSettings``), never tenant options. A tenant's `image-url` is checked against it before
/// anything is made or fetched, and every redirect hop again.
///
/// - `file://` URLs: only regular files that, after resolving every symlink and `..`, lie below one of
///   ``fileDirectories`` (themselves resolved). Refused without reading anything: paths outside them
///   (checked on the path as written before the file system is consulted, so a refusal says nothing about
///   files elsewhere), symlinks leading out, devices (`/dev/zero`), FIFOs, directories. What is then
///   read is the resolved path. The directories must be writable by the operator only: a file swapped
///   between the check and the read is not caught.
/// - `http://` / `https://` URLs: only those matching an entry of ``urlPrefixes``. None by default, so
///   a driver fetches nothing over the network until the operator lists its sources.
/// - Every download stops once it exceeds ``maxBytes``; its partial file is removed.
package struct ImageSourcePolicy: Sendable {
    /// Absolute directories below which `file://` images may be read.
    package var fileDirectories: [String]
    /// The http(s) URL prefixes images may be downloaded from.
    package var urlPrefixes: [URLPrefix]
    /// The largest image, in bytes, a download may write.
    package var maxBytes: Int64

    /// 8 GiB: several times the largest published cloud image.
    package static let defaultMaxBytes: Int64 = 8 << 30

    /// The configuration keys, named in refusals (the environment variables follow from them).
    package enum Setting: String, Sendable {
        case fileDirectories = "qemu.imageFileDirectories"
        case urlPrefixes = "qemu.imageUrlPrefixes"
        case maxBytes = "qemu.imageMaxBytes"

        /// `key (ENVIRONMENT_VARIABLE)`.
        package var display: String { "\(rawValue) (\(ConfigurationSources.environmentVariable(for: rawValue)))" }
    }

    /// A policy allowing nothing but what is given.
    package init(fileDirectories: [String] = [], urlPrefixes: [URLPrefix] = [], maxBytes: Int64 = defaultMaxBytes) {
        self.fileDirectories = fileDirectories
        self.urlPrefixes = urlPrefixes
        self.maxBytes = maxBytes
    }

    /// The URL to fetch for `url` (for `file://`, the resolved path), or why it may not be fetched.
    package func permit(_ url: String) throws(ImageCacheError) -> String {
        let scheme = url.prefix { $0 != ":" }.lowercased()
        guard url.contains("://") else { throw .unsupportedURL(Redaction.url(url)) }
        switch scheme {
        case "file": return try permitFile(url)
        case "http", "https":
            guard let reason = refusal(http: url) else { return url }
            throw .sourceNotAllowed(url: Redaction.url(url), reason: reason, setting: .urlPrefixes)
        default: throw .unsupportedURL(Redaction.url(url))
        }
    }

    /// Why the http(s) URL `url` (a tenant's or a redirect's) may not be fetched; nil when it may.
    package func refusal(http url: String) -> String? {
        guard let candidate = URLPrefix.Candidate(url) else {
            return "it is not a plain http(s) URL (a host, no '.' or '..' path segments, no encoded '/' or '\\')"
        }
        guard !urlPrefixes.isEmpty else {
            return "the operator allows no http(s) image sources"
        }
        guard urlPrefixes.contains(where: { $0.matches(candidate) }) else {
            return "it is not below any allowed prefix (\(urlPrefixes.map(\.description).joined(separator: ", ")))"
        }
        return nil
    }

    private func permitFile(_ url: String) throws(ImageCacheError) -> String {
        let redacted = Redaction.url(url)
        guard let components = URLComponents(string: url), components.host.map({ $0.isEmpty || $0.lowercased() == "localhost" }) ?? true,
              components.query == nil, components.fragment == nil, components.path.hasPrefix("/"), !components.path.contains("\0")
        else {
            throw .sourceNotAllowed(url: redacted, reason: "a file:// URL must be file:///<absolute path> with no host, query or fragment",
                                    setting: .fileDirectories)
        }
        let written = Self.lexicallyNormalized(components.path)
        let directories = fileDirectories.map { configured in
            (configured: Self.lexicallyNormalized(configured), resolved: Self.resolved(configured))
        }
        guard !directories.isEmpty else {
            throw .sourceNotAllowed(url: redacted, reason: "the operator allows no file:// image directories", setting: .fileDirectories)
        }
        // The path as written first: a refusal here touched no file, so it tells nothing about what exists.
        let writtenBelow = directories.contains { directory in
            Self.isBelow(written, directory.configured) || directory.resolved.map { Self.isBelow(written, $0) } == true
        }
        guard writtenBelow else {
            throw .sourceNotAllowed(
                url: redacted, reason: "it is not below an allowed directory (\(fileDirectories.joined(separator: ", ")))",
                setting: .fileDirectories)
        }
        var status = stat()
        guard let resolved = Self.resolved(written),
              directories.contains(where: { $0.resolved.map { Self.isBelow(resolved, $0) } == true }),
              stat(resolved, &status) == 0, status.st_mode & S_IFMT == S_IFREG
        else {
            throw .sourceNotAllowed(
                url: redacted,
                reason: "it does not exist, is not a regular file, or leads (through a symlink or '..') out of the allowed directories "
                    + "(\(fileDirectories.joined(separator: ", ")))",
                setting: .fileDirectories)
        }
        return URL(fileURLWithPath: resolved).absoluteString
    }

    /// `path` with every symlink and `.`/`..` resolved (`realpath`), nil when it does not exist.
    private static func resolved(_ path: String) -> String? {
        guard let pointer = realpath(path, nil) else { return nil }
        defer { free(pointer) }
        return String(cString: pointer)
    }

    /// `path` with empty, `.` and `..` segments removed as written (no file-system access).
    static func lexicallyNormalized(_ path: String) -> String {
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": _ = segments.popLast()
            default: segments.append(segment)
            }
        }
        return "/" + segments.joined(separator: "/")
    }

    /// Whether `path` is strictly inside `directory` (both normalized absolute paths).
    private static func isBelow(_ path: String, _ directory: String) -> Bool {
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return path.hasPrefix(prefix) && path.count > prefix.count
    }
}
