package import Configuration
import Foundation
package import PazServiceKit

/// One allowed http(s) location (an image source, a provider endpoint): `scheme://host[:port][/path]`. A URL matches when scheme, host
/// (any case) and port (explicit or the scheme's default) are equal and its path is the prefix's path
/// or lies below it (`https://example.org/images` matches `/images` and `/images/x.img`, not
/// `/images-old/x.img`). A prefix has no user, query or fragment.
package struct URLPrefix: Sendable, Hashable, CustomStringConvertible {
    package let scheme: String
    package let host: String
    package let port: Int
    /// Percent-encoded, without a trailing `/` (empty: any path).
    package let path: String

    /// Parses one entry of a prefix list setting; nil when it is not of the form above.
    package init?(_ text: String) {
        guard let components = URLComponents(string: text.trimmingCharacters(in: .whitespaces)),
              let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = components.host, !host.isEmpty, components.user == nil, components.password == nil,
              components.query == nil, components.fragment == nil, Candidate.isPlainPath(components.percentEncodedPath)
        else { return nil }
        self.scheme = scheme
        self.host = host.lowercased()
        port = components.port ?? (scheme == "https" ? 443 : 80)
        var path = components.percentEncodedPath
        while path.hasSuffix("/") { path.removeLast() }
        self.path = path
    }

    package var description: String { "\(scheme)://\(host.contains(":") ? "[\(host)]" : host):\(port)\(path)/" }

    /// Whether `url` (a plain http(s) URL) lies below this prefix.
    package func matches(url: String) -> Bool {
        Candidate(url).map(matches) ?? false
    }

    /// Whether `candidate` lies below this prefix.
    package func matches(_ candidate: Candidate) -> Bool {
        candidate.scheme == scheme && candidate.host == host && candidate.port == port
            && (path.isEmpty || candidate.path == path || candidate.path.hasPrefix(path + "/"))
    }

    /// A URL to check, parsed once: nil when it is not a plain http(s) URL with a host.
    package struct Candidate: Sendable {
        package let scheme: String
        package let host: String
        package let port: Int
        package let path: String

        package init?(_ url: String) {
            guard !url.contains("\\"), let components = URLComponents(string: url),
                  let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https",
                  let host = components.host, !host.isEmpty, Self.isPlainPath(components.percentEncodedPath)
            else { return nil }
            self.scheme = scheme
            self.host = host.lowercased()
            port = components.port ?? (scheme == "https" ? 443 : 80)
            path = components.percentEncodedPath
        }

        /// No `.`/`..` segment (also percent-encoded) and no encoded `/` or `\`: what a server might
        /// resolve to another path than the one checked.
        package static func isPlainPath(_ path: String) -> Bool {
            let lowered = path.lowercased()
            guard !lowered.contains("%2f"), !lowered.contains("%5c") else { return false }
            return !path.split(separator: "/").contains { segment in
                let decoded = segment.removingPercentEncoding ?? String(segment)
                return decoded == "." || decoded == ".."
            }
        }
    }
}

extension URLPrefix {
    /// The prefixes of the comma-separated setting `key` (none when unset); an entry that is not a
    /// prefix is a configuration error naming the key and its environment variable.
    package static func list(_ key: String, reader: ConfigReader) throws(ServiceKitError) -> [URLPrefix] {
        let entries = try reader.value(key, default: "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        let prefixes = entries.compactMap(URLPrefix.init)
        guard prefixes.count == entries.count else {
            throw .invalidConfiguration(
                key: key, environmentVariable: ConfigurationSources.environmentVariable(for: key),
                value: "'\(entries.joined(separator: ","))'", expected: "comma-separated http(s)://host[:port][/path] prefixes")
        }
        return prefixes
    }
}
