import Crypto
import Foundation
import PazHTTP

/// AWS Signature Version 4 computed in Swift (swift-crypto), independently of libcurl, to check what
/// libcurl sent. Test code only: PazHTTP never signs in Swift (AWSSigV4Signer hands signing to libcurl).
enum ReferenceSigV4 {
    /// The Authorization parts for a request whose canonical URI and query are given as they must be
    /// signed, with `headers` (names any case; repeated names are joined with commas) as the signed headers.
    static func authorization(
        method: String, canonicalPath: String, canonicalQuery: String, headers: [(String, String)], body: Data,
        amzDate: String, credentials: AWSCredentials, region: String, service: String
    ) -> SigV4Authorization {
        var values: [String: [String]] = [:]
        for (name, value) in headers {
            let collapsed = value.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ")
            values[name.lowercased(), default: []].append(collapsed)
        }
        let names = values.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(values[$0, default: []].joined(separator: ","))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let canonicalRequest = [
            method, canonicalPath, canonicalQuery, canonicalHeaders, signedHeaders, hex(SHA256.hash(data: body)),
        ].joined(separator: "\n")

        let date = String(amzDate.prefix(8))
        let scope = "\(date)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", amzDate, scope, hex(SHA256.hash(data: Data(canonicalRequest.utf8)))]
            .joined(separator: "\n")
        var key = SymmetricKey(data: Data("AWS4\(credentials.secretAccessKey)".utf8))
        for part in [date, region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signature = hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
        return SigV4Authorization(
            credential: "\(credentials.accessKeyId)/\(scope)", signedHeaders: signedHeaders, signature: signature
        )
    }

    /// Lowercase hex of a digest or MAC.
    static func hex<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }
}
