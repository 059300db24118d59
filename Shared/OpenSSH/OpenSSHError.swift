/// Everything that can go wrong reading, writing, signing or verifying OpenSSH keys and
/// certificates. Descriptions say what was wrong and what to do; they never contain key material.
package enum OpenSSHError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The base64 field of `what` (a public key line, a certificate line, a private key file) does not decode.
    case invalidBase64(String)
    /// `what` ended before all its fields were read.
    case truncated(String)
    /// `what` decoded, but a field is wrong (`reason`).
    case malformed(String, String)
    /// The key or certificate type is not one this module handles.
    case unsupportedAlgorithm(String)
    /// A line's type field names one algorithm and its blob holds another.
    case algorithmMismatch(declared: String, actual: String)
    /// The private key file is encrypted with a passphrase.
    case encryptedPrivateKey(cipher: String)
    /// A certificate option (critical option or extension) is unusable: empty or duplicate name.
    case invalidOption(String)
    /// A certificate field the caller set is unusable (`reason`).
    case invalidCertificateField(String)
    /// A certificate's signature does not verify against its signing CA key (`reason`).
    case signatureInvalid(String)
    /// The CA key could not produce a signature (a swift-crypto failure).
    case signingFailed(String)
    /// A known_hosts host pattern is unusable.
    case invalidHostPattern(String)

    package var description: String {
        switch self {
        case .invalidBase64(let what):
            "the base64 data of the \(what) does not decode: copy the whole line or file again, unwrapped and unedited"
        case .truncated(let what):
            "the \(what) ends early: it was cut off when copied, or it is not an OpenSSH \(what)"
        case .malformed(let what, let reason):
            "the \(what) is malformed: \(reason); regenerate it with ssh-keygen or this tool"
        case .unsupportedAlgorithm(let name):
            "unsupported key type \"\(name)\": only ssh-ed25519 and ecdsa-sha2-nistp256 keys (and their"
                + " -cert-v01@openssh.com certificates) are supported; create one with ssh-keygen -t ed25519"
        case .algorithmMismatch(let declared, let actual):
            "the line says \(declared) but its data holds \(actual): the line was edited or assembled wrongly"
        case .encryptedPrivateKey(let cipher):
            "the private key file is encrypted (\(cipher)): remove the passphrase with"
                + " ssh-keygen -p -N '' -f FILE, or provide an unencrypted key"
        case .invalidOption(let reason):
            "invalid certificate option: \(reason)"
        case .invalidCertificateField(let reason):
            "invalid certificate: \(reason)"
        case .signatureInvalid(let reason):
            "the certificate signature does not verify: \(reason); the certificate was altered or not"
                + " signed by the CA it names — do not trust it, re-issue it"
        case .signingFailed(let reason):
            "could not sign with the CA key: \(reason)"
        case .invalidHostPattern(let reason):
            "invalid known_hosts host pattern: \(reason)"
        }
    }
}
