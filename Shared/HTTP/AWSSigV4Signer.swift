/// How libcurl signs a request with AWS Signature Version 4 (``HTTPRequest/awsSigV4``).
///
/// The transfer passes ``provider`` as `CURLOPT_AWS_SIGV4` and the key pair as `CURLOPT_USERNAME` /
/// `CURLOPT_PASSWORD`; libcurl then computes the signature when it sends the request, with the current
/// time, and adds `Authorization` and `X-Amz-Date`. Nothing here is logged: the settings are not headers,
/// and their description redacts the secret.
package struct AWSSigV4Settings: Sendable, Hashable {
    package var credentials: AWSCredentials
    /// The signing region (`us-east-1`).
    package var region: String
    /// The signing service (`ec2`).
    package var service: String

    package init(credentials: AWSCredentials, region: String, service: String) {
        self.credentials = credentials
        self.region = region
        self.service = service
    }

    /// The `CURLOPT_AWS_SIGV4` value: `aws:amz:<region>:<service>`.
    package var provider: String {
        "aws:amz:\(region):\(service)"
    }

    /// Refuses what libcurl 7.88's SigV4 would silently get wrong: it truncates a region or service longer
    /// than 64 bytes or containing ':' or a space, skips signing when the caller sets `Authorization`,
    /// takes a `Date` header as its timestamp and signs an empty-valued header ("Name;") under a wrong name.
    func validate(headers: HTTPHeaders) throws(HTTPClientError) {
        let nameCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.".unicodeScalars)
        for (label, value) in [("region", region), ("service", service)] {
            guard (1...64).contains(value.unicodeScalars.count), value.unicodeScalars.allSatisfy(nameCharacters.contains) else {
                throw .invalidRequest("AWS SigV4 \(label) \"\(value)\" must be 1 to 64 ASCII letters, digits, '-', '_' or '.'")
            }
        }
        // The key id is written into the Authorization header: visible ASCII only.
        let keyId = credentials.accessKeyId.unicodeScalars
        guard !keyId.isEmpty, keyId.allSatisfy({ (0x21..<0x7F).contains($0.value) }) else {
            throw .invalidRequest("the AWS access key id is empty or contains spaces, control or non-ASCII characters")
        }
        guard !credentials.secretAccessKey.isEmpty else {
            throw .invalidRequest("the AWS secret access key is empty")
        }
        for field in headers {
            guard !["authorization", "date"].contains(field.name.lowercased()) else {
                throw .invalidRequest("an AWS SigV4-signed request must not set its own \(field.name) header")
            }
            guard !field.value.isEmpty else {
                throw .invalidRequest("header \(field.name) has an empty value, which libcurl cannot sign with AWS SigV4")
            }
        }
    }
}

/// Signs requests with AWS Signature Version 4 — by libcurl, not in Swift.
///
/// Before every attempt it sets ``HTTPRequest/awsSigV4`` (each attempt is a new libcurl transfer, so a
/// retry is signed again with a fresh timestamp) and, for temporary credentials, the
/// `X-Amz-Security-Token` header, which libcurl signs like every header the caller sets.
///
/// What libcurl 7.88 signs (Host, every header the request carries, the body of a POST/PUT/PATCH) is
/// what AWS expects for EC2's query API — form-encoded POSTs. It does not canonicalise the rest: the
/// path and query are signed as sent (not sorted, not re-encoded, `//` kept; libcurl removes `.`/`..`
/// segments before sending), and a header name given twice is signed as two lines, not one
/// comma-joined line; AWS then refuses the signature. Requests
/// signed this way must not carry their own `Authorization` or `Date` header, nor a header with an empty
/// value (``HTTPClientError/invalidRequest(_:)``). Nor should they set `X-Amz-Date`: libcurl would take
/// it as the signature's timestamp and send it twice (only the test suite does that, to fix the time).
package struct AWSSigV4Signer: HTTPRequestSigner {
    private let settings: AWSSigV4Settings

    /// A signer for `service` (`ec2`) in `region` (`us-east-1`).
    package init(credentials: AWSCredentials, region: String, service: String) {
        settings = AWSSigV4Settings(credentials: credentials, region: region, service: service)
    }

    package func sign(_ request: inout HTTPRequest, attempt: Int) async throws {
        request.awsSigV4 = settings
        if let token = settings.credentials.sessionToken {
            request.headers.set("X-Amz-Security-Token", token)
            request.sensitiveHeaders.insert("X-Amz-Security-Token")
        }
    }
}
