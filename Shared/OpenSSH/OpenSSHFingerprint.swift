import Crypto
import Foundation

extension OpenSSHPublicKey {
    /// The SHA-256 fingerprint as `ssh-keygen -l` prints it: `SHA256:` and the unpadded base64 of
    /// the digest of the key blob, e.g. `SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s`.
    package var fingerprint: String {
        let digest = Data(SHA256.hash(data: blob))
        return "SHA256:" + digest.base64EncodedString().trimmingCharacters(in: CharacterSet(charactersIn: "="))
    }
}
