import Foundation

/// The parts of `scheme://[user[:password]@]host[:port][/path]`, as the `AMQP_URL` and `REDIS_URL`
/// settings give them. Split here rather than by Foundation's `URLComponents`, whose `host` reaches
/// ICU's IDNA code: megabytes resident in every service for reading two settings.
struct ServiceURL: Equatable {
    /// Lowercased.
    let scheme: String
    /// Percent-decoded; nil without user information.
    let user: String?
    /// Percent-decoded; nil without a `:` in the user information.
    let password: String?
    /// A name or IPv4 address, or an IPv6 address without its brackets.
    let host: String
    let port: Int?
    /// Percent-encoded as written, from its `/` on (empty when the URL has none); query and fragment left out.
    let percentEncodedPath: String

    /// Nil when `text` is not such a URL: no `://`, an empty host or one with characters a host
    /// cannot have, a port that is not 1–65535, or user information that does not percent-decode.
    init?(_ text: String) {
        guard let separator = text.range(of: "://") else { return nil }
        let scheme = text[..<separator.lowerBound]
        guard let first = scheme.first, first.isASCII, first.isLetter,
              scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        else { return nil }
        self.scheme = scheme.lowercased()
        let rest = text[separator.upperBound...]
        let authorityEnd = rest.firstIndex { "/?#".contains($0) } ?? rest.endIndex
        var hostAndPort = rest[..<authorityEnd]
        let tail = rest[authorityEnd...]
        percentEncodedPath = String(tail.prefix { $0 != "?" && $0 != "#" })

        if let at = hostAndPort.lastIndex(of: "@") {
            let userInformation = hostAndPort[..<at]
            hostAndPort = hostAndPort[hostAndPort.index(after: at)...]
            let colon = userInformation.firstIndex(of: ":")
            guard let user = String(userInformation[..<(colon ?? userInformation.endIndex)]).removingPercentEncoding else {
                return nil
            }
            self.user = user
            if let colon {
                guard let password = String(userInformation[userInformation.index(after: colon)...]).removingPercentEncoding else {
                    return nil
                }
                self.password = password
            } else {
                password = nil
            }
        } else {
            (user, password) = (nil, nil)
        }

        let portText: Substring?
        if hostAndPort.first == "[" {
            guard let close = hostAndPort.firstIndex(of: "]") else { return nil }
            let address = hostAndPort[hostAndPort.index(after: hostAndPort.startIndex)..<close]
            guard !address.isEmpty, address.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
            host = String(address)
            let after = hostAndPort[hostAndPort.index(after: close)...]
            guard after.isEmpty || after.first == ":" else { return nil }
            portText = after.isEmpty ? nil : after.dropFirst()
        } else {
            let colon = hostAndPort.lastIndex(of: ":")
            let name = hostAndPort[..<(colon ?? hostAndPort.endIndex)]
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._~".contains($0)) }) else {
                return nil
            }
            host = String(name)
            portText = colon.map { hostAndPort[hostAndPort.index(after: $0)...] }
        }
        if let portText, !portText.isEmpty {
            guard portText.allSatisfy(\.isASCII), let port = Int(portText), (1...65535).contains(port) else { return nil }
            self.port = port
        } else {
            port = nil
        }
    }
}
