import Foundation
import HTTPTypes
import Hummingbird
import PazGatewayServer
import PazSchemas

/// The first thing every request meets, before routing: a path that is not in canonical form is
/// refused with 400 (so no path trick can reach a handler the text did not name), an undeclared
/// method with 405, a malformed `Idempotency-Key` with 400, a body over the limit with 413 and a
/// JSON null in it with 400. The body is read here, bounded, so no later stage can read an unbounded one.
/// On the way out, an answer of known length is gathered into one buffer, so its head and body leave
/// in one write (``gathered(_:)``).
struct RequestGate<Next: HTTPResponder>: HTTPResponder {
    typealias Context = Next.Context
    let next: Next
    let maxBodyBytes: Int

    func respond(to request: Request, context: Context) async throws -> Response {
        if let reason = CanonicalPath.violation(in: request.uri.path) {
            return Self.refusal(GatewayProblem(
                .badRequest, "non-canonical-path", "Non-canonical path", detail: "the request path \(reason)"), path: nil)
        }
        if let allowed = DeclaredMethods.allowed(path: request.uri.path), !allowed.contains(request.method.rawValue) {
            var response = Self.refusal(GatewayProblem(
                .methodNotAllowed, "method-not-allowed", "Method not allowed",
                detail: "\(request.uri.path) takes \(allowed.joined(separator: ", "))"), path: request.uri.path)
            response.headers[.allow] = allowed.joined(separator: ", ")
            return response
        }
        if let key = request.headers[.idempotencyKey], !Self.isValidIdempotencyKey(key) {
            return Self.refusal(GatewayProblem(
                .badRequest, "malformed-request", "Malformed request",
                detail: "Idempotency-Key must be 1-255 printable ASCII characters without spaces", field: "Idempotency-Key"),
                path: request.uri.path)
        }
        var tooLarge: GatewayProblem {
            GatewayProblem(
                .contentTooLarge, "body-too-large", "Request body too large",
                detail: "the request body is larger than \(maxBodyBytes) bytes")
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > maxBodyBytes {
            return Self.refusal(tooLarge, path: request.uri.path)
        }
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: maxBodyBytes)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            return Self.refusal(tooLarge, path: request.uri.path)
        }
        if JSONNulls.contains(body.readableBytesView) {
            return Self.refusal(GatewayProblem(
                .badRequest, "malformed-request", "Malformed request",
                detail: "the body holds a null; no field of this API takes null: leave the field out"), path: request.uri.path)
        }
        // The body's length is known now: an empty one reaches the handlers as no body at all.
        var head = request.head
        head.headerFields[.contentLength] = String(body.readableBytes)
        return try await Self.gathered(next.respond(to: Request(head: head, body: .init(buffer: body)), context: context))
    }

    /// Answers up to this size are gathered (every answer of the API but event streams, which have
    /// no known length).
    static var maxGatheredBytes: Int { 1 << 20 }

    /// `response` with its body in one buffer when its length is known and small: Hummingbird then
    /// writes head, body and end in one go. The OpenAPI transport hands over every body as a stream,
    /// which costs a socket write for the head and another for the body.
    static func gathered(_ response: Response) async throws -> Response {
        guard let length = response.body.contentLength, length <= maxGatheredBytes else { return response }
        let collector = BodyCollector()
        try await response.body.write(BodyCollector.Writer(collector: collector))
        var response = response
        response.body = ResponseBody(byteBuffer: collector.buffer)
        return response
    }

    /// `^[\x21-\x7E]{1,255}$`, as openapi.yaml declares.
    static func isValidIdempotencyKey(_ key: String) -> Bool {
        (1...255).contains(key.utf8.count) && key.utf8.allSatisfy { (0x21...0x7E).contains($0) }
    }

    /// A problem answer made here (the OpenAPI middlewares have not run yet).
    private static func refusal(_ problem: GatewayProblem, path: String?) -> Response {
        let requestId = "req_" + ULID.make()
        var headers = HTTPFields()
        headers[.contentType] = "application/problem+json"
        headers[.xRequestId] = requestId
        headers[.connection] = "close"
        let json = (try? JSONEncoder.gateway.encode(problem.body(instance: path, requestId: requestId))) ?? Data()
        return Response(status: problem.status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: json)))
    }
}

/// The methods openapi.yaml declares per path template.
enum DeclaredMethods {
    /// The methods the document declares for the path template `path` matches; nil when none matches.
    static func allowed(path: String) -> [String]? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for (parts, methods) in templates where parts.count == segments.count {
            if zip(parts, segments).allSatisfy({ $0 == nil || $0! == $1 }) { return methods }
        }
        return nil
    }

    /// The document's path templates split into segments once (nil: a `{parameter}` segment).
    private static let templates: [(parts: [Substring?], methods: [String])] = OperationAccess.methodsByPath.map { template, methods in
        (template.split(separator: "/", omittingEmptySubsequences: false).map { $0.first == "{" ? nil : $0 }, methods)
    }
}

/// The canonical form of a request path: absolute, no empty, `.` or `..` segment, no encoded
/// slash, backslash, dot or NUL, no control character or backslash.
enum CanonicalPath {
    /// Why `path` is not canonical, or nil when it is.
    static func violation(in path: String) -> String? {
        guard path.hasPrefix("/") else { return "must start with /" }
        if path == "/" { return nil }
        let bytes = Array(path.utf8)
        if bytes.contains(where: { $0 < 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\\") }) {
            return "contains a control character or a backslash"
        }
        for index in bytes.indices.dropLast(2) where bytes[index] == UInt8(ascii: "%") {
            let code = String(decoding: bytes[(index + 1)...(index + 2)], as: UTF8.self).uppercased()
            if ["2F", "5C", "2E", "00"].contains(code) {
                return "contains an encoded slash, backslash, dot or NUL (%\(code))"
            }
        }
        for segment in path.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            if segment.isEmpty { return "has an empty segment (// or a trailing /)" }
            if segment == "." || segment == ".." { return "has a . or .. segment" }
        }
        return nil
    }
}

/// Finds a JSON `null` outside strings without parsing the document (the decoders treat an explicit
/// null like an absent field; the document allows null nowhere). One pass, no allocation: the last
/// four bytes outside strings are kept in one integer.
enum JSONNulls {
    /// "null" as the window holds it: n, u, l, l from the high byte down.
    private static let null: UInt32 = 0x6E75_6C6C

    static func contains(_ bytes: some Collection<UInt8>) -> Bool {
        var inString = false
        var escaped = false
        var window: UInt32 = 0
        for byte in bytes {
            if inString {
                if escaped { escaped = false } else if byte == UInt8(ascii: "\\") { escaped = true } else if byte == UInt8(ascii: "\"") { inString = false }
                continue
            }
            if byte == UInt8(ascii: "\"") {
                inString = true
                window = 0
                continue
            }
            window = window << 8 | UInt32(byte)
            if window == null { return true }
        }
        return false
    }
}

/// Where ``RequestGate/gathered(_:)`` collects a body (written by one task, read after it finished).
private final class BodyCollector: @unchecked Sendable {
    var buffer = ByteBuffer()

    struct Writer: ResponseBodyWriter {
        let collector: BodyCollector

        mutating func write(_ buffer: ByteBuffer) async throws {
            if collector.buffer.readableBytes == 0 {
                collector.buffer = buffer
            } else {
                var buffer = buffer
                collector.buffer.writeBuffer(&buffer)
            }
        }

        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
