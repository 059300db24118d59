package import Foundation

/// HTTP header fields in order, with case-insensitive lookup by name.
package struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    /// The fields as sent or received, in order; names keep their original spelling.
    package private(set) var fields: [(name: String, value: String)] = []

    /// No fields.
    package init() {}

    /// Fields from name/value pairs, in order.
    package init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    package init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// The first value of `name` (any case), or nil.
    package subscript(name: String) -> String? {
        fields.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    /// Every value of `name` (any case), in order.
    package func values(for name: String) -> [String] {
        fields.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }

    /// True when a field called `name` (any case) is present.
    package func contains(_ name: String) -> Bool {
        self[name] != nil
    }

    /// Appends a field, keeping fields of the same name.
    package mutating func add(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    /// Replaces every field called `name` (any case) with one field.
    package mutating func set(_ name: String, _ value: String) {
        remove(name)
        add(name, value)
    }

    /// Removes every field called `name` (any case).
    package mutating func remove(_ name: String) {
        fields.removeAll { $0.name.caseInsensitiveEquals(name) }
    }

    package func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    package static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.fields.elementsEqual(rhs.fields) { $0.name == $1.name && $0.value == $1.value }
    }
}

extension String {
    func caseInsensitiveEquals(_ other: String) -> Bool {
        lowercased() == other.lowercased()
    }
}

/// An HTTP method. Known methods carry their idempotency by RFC 9110.
package struct HTTPMethod: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    package let rawValue: String
    package init(rawValue: String) { self.rawValue = rawValue }

    package static let get = HTTPMethod(rawValue: "GET")
    package static let head = HTTPMethod(rawValue: "HEAD")
    package static let post = HTTPMethod(rawValue: "POST")
    package static let put = HTTPMethod(rawValue: "PUT")
    package static let patch = HTTPMethod(rawValue: "PATCH")
    package static let delete = HTTPMethod(rawValue: "DELETE")

    /// GET, HEAD, PUT, DELETE, OPTIONS: repeating the request has the same effect as sending it once.
    package var isIdempotentByDefault: Bool {
        ["GET", "HEAD", "PUT", "DELETE", "OPTIONS"].contains(rawValue)
    }

    package var description: String { rawValue }
}

/// One request to send. Value type: the client copies it for every attempt, so a signer always starts
/// from what the caller built.
package struct HTTPRequest: Sendable {
    package var method: HTTPMethod
    /// Absolute `http://` or `https://` URL (downloads also take `file://`), already percent-encoded.
    package var url: String
    package var headers: HTTPHeaders
    package var body: Data
    /// Upper bound for establishing the connection (TCP + TLS); nil uses the client's default.
    package var connectTimeout: Duration?
    /// Upper bound for one whole attempt; nil uses the client's default.
    package var totalTimeout: Duration?
    /// Whether the request may be sent again after a 429, 5xx or transport failure. Defaults to the
    /// method's idempotency; set it for POSTs that carry their own idempotency token (EC2 `ClientToken`).
    package var idempotent: Bool
    /// Extra header names (any case) whose values are secret and must never be logged.
    package var sensitiveHeaders: Set<String>
    /// Set by ``AWSSigV4Signer``: libcurl signs the request with AWS SigV4 when it sends it. Never logged.
    package var awsSigV4: AWSSigV4Settings?

    /// A request; `idempotent` defaults to the method's idempotency.
    package init(
        method: HTTPMethod = .get,
        url: String,
        headers: HTTPHeaders = [:],
        body: Data = Data(),
        connectTimeout: Duration? = nil,
        totalTimeout: Duration? = nil,
        idempotent: Bool? = nil,
        sensitiveHeaders: Set<String> = []
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.idempotent = idempotent ?? method.isIdempotentByDefault
        self.sensitiveHeaders = sensitiveHeaders
    }
}

/// A response as received (any status: only the retry machinery treats some statuses as failures).
package struct HTTPResponse: Sendable {
    package var status: Int
    package var headers: HTTPHeaders
    package var body: Data
    /// Seconds the final attempt took, from start to last byte (libcurl's total time).
    package var totalSeconds: Double

    package init(status: Int, headers: HTTPHeaders, body: Data, totalSeconds: Double) {
        self.status = status
        self.headers = headers
        self.body = body
        self.totalSeconds = totalSeconds
    }

    /// The body decoded as UTF-8 (invalid bytes replaced).
    package var bodyText: String {
        String(decoding: body, as: UTF8.self)
    }
}

/// What a download returns: the final response's status and fields (the body went to the sink).
package struct HTTPResponseHead: Sendable {
    /// The HTTP status after redirects (0 for `file://`).
    package var status: Int
    package var headers: HTTPHeaders
    /// Seconds from start to last byte (libcurl's total time).
    package var totalSeconds: Double

    package init(status: Int, headers: HTTPHeaders, totalSeconds: Double) {
        self.status = status
        self.headers = headers
        self.totalSeconds = totalSeconds
    }
}
