import Foundation
import HTTPTypes
import OpenAPIRuntime
import PazGatewayAPI

/// Answers `GET /v1/status` with the prepared document's bytes (``StatusDocument/json``) instead of
/// building and encoding generated types: the answer is the same `StatusReport`, written directly.
///
/// Innermost middleware, so authentication, the rate limit and the breakers have run. Requests it
/// does not recognize exactly — an `Accept` other than JSON or a wildcard, a query other than one
/// plain `cluster=` — go on to the generated server and ``Gateway/getStatus(_:)``, which decides
/// them as the contract says.
struct StatusFastPath: ServerMiddleware {
    let gateway: Gateway

    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, metadata: ServerRequestMetadata, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        guard operationID == Operations.GetStatus.id, Self.acceptsJSON(request.headerFields[.accept]),
            let query = Self.plainQuery(request.path)
        else { return try await next(request, body, metadata) }
        let document = try await gateway.statusDocument(tenant: try Principal.tenant(), cluster: query.cluster)
        let etag = document.etag
        var response = HTTPResponse(status: .ok)
        response.headerFields[.cacheControl] = StatusDocument.cacheControl
        response.headerFields[.eTag] = etag
        if ifNoneMatch(request.headerFields[.ifNoneMatch], matches: etag) {
            response.status = .notModified
            return (response, nil)
        }
        response.headerFields[.contentType] = "application/json; charset=utf-8"
        return (response, HTTPBody(document.json))
    }

    /// True without `Accept`, or when it is one plain JSON or wildcard media range.
    static func acceptsJSON(_ accept: String?) -> Bool {
        guard let accept else { return true }
        return ["application/json", "application/*", "*/*"].contains(accept.trimmingCharacters(in: .whitespaces).lowercased())
    }

    /// A query the fast path answers: none, or one `cluster` filter.
    struct PlainQuery: Equatable {
        let cluster: String?
    }

    /// The query of a path with no query or exactly `?cluster=<ASCII letters, digits, - or _>`; nil
    /// for any other query (percent-encoding, other or repeated parameters).
    static func plainQuery(_ path: String?) -> PlainQuery? {
        guard let path else { return nil }
        guard let mark = path.firstIndex(of: "?") else { return PlainQuery(cluster: nil) }
        let query = path[path.index(after: mark)...]
        guard query.hasPrefix("cluster="), case let value = query.dropFirst("cluster=".count), !value.isEmpty,
            value.utf8.allSatisfy(isPlain)
        else { return nil }
        return PlainQuery(cluster: String(value))
    }

    private static func isPlain(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"): true
        default: false
        }
    }
}
