/// AWS credentials: an access key pair and, for temporary credentials (STS, instance roles), a session token.
///
/// Printing, `String(reflecting:)` and `dump` show the key id only: the secret and the token are
/// `<redacted>`, so the value may appear in log metadata and error messages.
package struct AWSCredentials: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable {
    /// The access key id (`AKIA…`, `ASIA…`); not secret, it names the key in the signature's `Credential`.
    package var accessKeyId: String
    package var secretAccessKey: String
    /// Sent as `X-Amz-Security-Token` (signed) when present.
    package var sessionToken: String?

    package init(accessKeyId: String, secretAccessKey: String, sessionToken: String? = nil) {
        self.accessKeyId = accessKeyId
        self.secretAccessKey = secretAccessKey
        self.sessionToken = sessionToken
    }

    package var description: String {
        let token = sessionToken == nil ? "nil" : Redaction.placeholder
        return "AWSCredentials(accessKeyId: \(accessKeyId), secretAccessKey: \(Redaction.placeholder), sessionToken: \(token))"
    }

    package var debugDescription: String { description }

    package var customMirror: Mirror {
        Mirror(self, children: [
            "accessKeyId": accessKeyId,
            "secretAccessKey": Redaction.placeholder,
            "sessionToken": sessionToken == nil ? "nil" : Redaction.placeholder,
        ])
    }
}
