import Foundation
import PazHTTP

/// The AWS SigV4 test suite (Fixtures/aws-sigv4-test-suite: awslabs/aws-c-auth's `v4` cases, Apache-2.0,
/// with its LICENSE and NOTICE), one directory per case.
enum AWSSigV4Suite {
    static let directory = Bundle.module.url(forResource: "aws-sigv4-test-suite", withExtension: nil, subdirectory: "Fixtures")

    /// Every case directory, sorted (empty when the fixtures are missing: `theSuiteIsComplete` fails then).
    static let caseNames: [String] = {
        guard let directory, let names = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        return names.filter { !$0.hasPrefix(".") && $0 != "LICENSE" && $0 != "NOTICE" }.sorted()
    }()

    /// One case: the request of request.txt, the signing context of context.json and the expected result.
    struct Case {
        let name: String
        let method: HTTPMethod
        /// Path and query exactly as in request.txt (may contain spaces and non-ASCII characters).
        let target: String
        /// Header fields in order (Host included); obs-folded lines are unfolded to one value.
        let headers: [(String, String)]
        let body: Data
        let credentials: AWSCredentials
        let region: String
        let service: String
        /// context.json's timestamp as SigV4 writes it: `20150830T123600Z`.
        let amzDate: String
        /// The signature must cover `x-amz-content-sha256` (the body's SHA-256, as a header).
        let signBody: Bool
        /// The session token is added after signing, unsigned.
        let omitSessionToken: Bool
        /// header-canonical-request.txt's canonical URI and query.
        let canonicalPath: String
        let canonicalQuery: String
        /// From header-signed-request.txt's Authorization line (its Signature is header-signature.txt's).
        let expected: SigV4Authorization

        /// `target` as a URL's path and query: spaces and non-ASCII characters percent-encoded, the rest
        /// (including existing escapes) kept.
        var encodedTarget: String {
            target.addingPercentEncoding(withAllowedCharacters: CharacterSet(charactersIn: "!"..."~")) ?? target
        }
    }

    struct FormatError: Error, CustomStringConvertible {
        let description: String
    }

    private struct Context: Decodable {
        struct Credentials: Decodable {
            let accessKeyId: String
            let secretAccessKey: String
            let token: String?
        }

        let credentials: Credentials
        let region: String
        let service: String
        let timestamp: String
        let signBody: Bool
        let omitSessionToken: Bool?
    }

    static func load(_ name: String) throws -> Case {
        guard let directory else { throw FormatError(description: "Fixtures/aws-sigv4-test-suite is missing") }
        let caseDirectory = directory.appendingPathComponent(name)
        func read(_ file: String) throws -> String {
            try String(contentsOf: caseDirectory.appendingPathComponent(file), encoding: .utf8)
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let context = try decoder.decode(Context.self, from: Data(try read("context.json").utf8))

        let (method, target, headers, body) = try parseRequest(try read("request.txt"), name: name)
        let canonical = try read("header-canonical-request.txt").components(separatedBy: "\n")
        let authorizationLine = try read("header-signed-request.txt").components(separatedBy: "\n")
            .first { $0.hasPrefix("Authorization:") }
        guard canonical.count > 2, let authorizationLine,
              let expected = SigV4Authorization(String(authorizationLine.dropFirst("Authorization:".count))),
              expected.signature == (try read("header-signature.txt")).trimmingCharacters(in: .whitespacesAndNewlines)
        else {
            throw FormatError(description: "\(name): unexpected header-canonical-request.txt or header-signed-request.txt")
        }
        return Case(
            name: name, method: method, target: target, headers: headers, body: body,
            credentials: AWSCredentials(
                accessKeyId: context.credentials.accessKeyId, secretAccessKey: context.credentials.secretAccessKey,
                sessionToken: context.credentials.token
            ),
            region: context.region, service: context.service,
            amzDate: context.timestamp.replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: ""),
            signBody: context.signBody, omitSessionToken: context.omitSessionToken ?? false,
            canonicalPath: canonical[1], canonicalQuery: canonical[2], expected: expected
        )
    }

    /// Request line, header fields (continuation lines unfolded with one space) and body of request.txt.
    private static func parseRequest(
        _ text: String, name: String
    ) throws -> (HTTPMethod, String, [(String, String)], Data) {
        let (head, body) = text.range(of: "\n\n").map { (text[..<$0.lowerBound], text[$0.upperBound...]) } ?? (text[...], "")
        var lines = head.components(separatedBy: "\n")
        let requestLine = lines.removeFirst()
        guard let space = requestLine.firstIndex(of: " "), requestLine.hasSuffix(" HTTP/1.1") else {
            throw FormatError(description: "\(name): bad request line \(requestLine)")
        }
        let method = HTTPMethod(rawValue: String(requestLine[..<space]))
        let target = String(requestLine[requestLine.index(after: space)...].dropLast(" HTTP/1.1".count))
        var headers: [(String, String)] = []
        for line in lines where !line.isEmpty {
            if line.first == " " || line.first == "\t", let last = headers.popLast() {
                headers.append((last.0, last.1 + " " + line.trimmingCharacters(in: .whitespaces)))
            } else if let colon = line.firstIndex(of: ":") {
                headers.append((String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
            } else {
                throw FormatError(description: "\(name): bad header line \(line)")
            }
        }
        return (method, target, headers, Data(body.utf8))
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…` value.
struct SigV4Authorization: Equatable, CustomStringConvertible {
    let credential: String
    let signedHeaders: String
    let signature: String

    init(credential: String, signedHeaders: String, signature: String) {
        self.credential = credential
        self.signedHeaders = signedHeaders
        self.signature = signature
    }

    init?(_ header: String) {
        let prefix = "AWS4-HMAC-SHA256 "
        let value = header.trimmingCharacters(in: .whitespaces)
        guard value.hasPrefix(prefix) else { return nil }
        var fields: [String: String] = [:]
        for part in value.dropFirst(prefix.count).split(separator: ",") {
            let field = part.trimmingCharacters(in: .whitespaces)
            guard let equals = field.firstIndex(of: "=") else { return nil }
            fields[String(field[..<equals])] = String(field[field.index(after: equals)...])
        }
        guard let credential = fields["Credential"], let signedHeaders = fields["SignedHeaders"],
              let signature = fields["Signature"]
        else { return nil }
        self.init(credential: credential, signedHeaders: signedHeaders, signature: signature)
    }

    var description: String {
        "Credential=\(credential), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }
}
