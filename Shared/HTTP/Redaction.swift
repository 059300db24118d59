import Foundation

/// Removes secrets from what is logged: header values and URL query parameters.
package enum Redaction {
    /// Logged instead of a secret.
    package static let placeholder = "<redacted>"

    /// Headers whose values are always secret (lowercase).
    package static let sensitiveHeaders: Set<String> = [
        "authorization", "proxy-authorization", "x-amz-security-token", "cookie", "set-cookie",
    ]

    /// A query parameter whose name contains one of these (any case) is secret.
    static let sensitiveQueryMarkers = ["token", "signature", "key", "secret", "credential", "password"]

    /// `headers` with the values of sensitive fields replaced; `extra` names (any case) are also secret.
    package static func headers(_ headers: HTTPHeaders, extra: Set<String> = []) -> HTTPHeaders {
        let secret = sensitiveHeaders.union(extra.map { $0.lowercased() })
        return HTTPHeaders(headers.map { field in
            (field.name, secret.contains(field.name.lowercased()) ? placeholder : field.value)
        })
    }

    /// `url` with user info and the values of secret-looking query parameters replaced.
    package static func url(_ url: String) -> String {
        var rest = Substring(url)
        var fragment = ""
        if let hash = rest.firstIndex(of: "#") {
            fragment = String(rest[hash...])
            rest = rest[..<hash]
        }
        var query: Substring?
        if let question = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: question)...]
            rest = rest[..<question]
        }
        var result = redactUserInfo(String(rest))
        if let query {
            let parameters = query.split(separator: "&", omittingEmptySubsequences: false).map { parameter -> String in
                guard let equals = parameter.firstIndex(of: "=") else { return String(parameter) }
                let name = parameter[..<equals]
                let decoded = (name.removingPercentEncoding ?? String(name)).lowercased()
                guard sensitiveQueryMarkers.contains(where: decoded.contains) else { return String(parameter) }
                return "\(name)=\(placeholder)"
            }
            result += "?" + parameters.joined(separator: "&")
        }
        return result + fragment
    }

    private static func redactUserInfo(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let authorityStart = schemeEnd.upperBound
        let authorityEnd = url[authorityStart...].firstIndex(of: "/") ?? url.endIndex
        guard let at = url[authorityStart..<authorityEnd].lastIndex(of: "@") else { return url }
        return String(url[..<authorityStart]) + placeholder + String(url[at...])
    }
}
