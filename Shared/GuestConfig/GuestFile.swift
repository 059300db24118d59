import Foundation
import PazDriverKit
import PazSchemas

/// A file both renderers (cloud-init, Ignition) place in the guest, owned by root.
struct GuestFile {
    var path: String
    var contents: String
    var mode: Int
}

extension GuestSpec {
    /// The sshd drop-in; sshd keeps the first value it reads, and `00-` sorts before the distribution's own.
    static let sshdDropIn = """
        # Paz: the host identity from the SSH broker and the tenant's user CA.
        HostKey /etc/ssh/paz_host_key
        HostCertificate /etc/ssh/paz_host_key-cert.pub
        TrustedUserCAKeys /etc/ssh/paz_user_ca.pub
        PasswordAuthentication no

        """

    /// sshd's host key, public key and certificate, the user CA and the drop-in that uses them.
    var sshFiles: [GuestFile] {
        [
            GuestFile(path: "/etc/ssh/paz_host_key", contents: Self.line(hostPrivateKey.value), mode: 0o600),
            GuestFile(path: "/etc/ssh/paz_host_key.pub", contents: Self.line(hostPublicKey), mode: 0o644),
            GuestFile(path: "/etc/ssh/paz_host_key-cert.pub", contents: Self.line(hostCertificate), mode: 0o644),
            GuestFile(path: "/etc/ssh/paz_user_ca.pub", contents: Self.line(userCAPublicKey), mode: 0o644),
            GuestFile(path: "/etc/ssh/sshd_config.d/00-paz.conf", contents: Self.sshdDropIn, mode: 0o644),
        ]
    }

    /// OpenSSH wants key files to end with a newline.
    private static func line(_ text: String) -> String { text.hasSuffix("\n") ? text : text + "\n" }
}

extension JSONValue {
    /// Deterministic JSON: sorted keys, `/` unescaped.
    func sortedJSON() throws(DriverError) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(self)
        } catch {
            throw .internal("could not encode guest configuration JSON: \(error)")
        }
    }
}
