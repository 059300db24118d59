import Foundation
import PazDriverKit

/// Writes files that hold the host private key: created 0600 (never wider, not even for a moment),
/// without following a symlink planted at the path.
enum SecretFile {
    static func write(_ data: Data, to path: String) throws(DriverError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .internal("could not create \(path): \(String(cString: strerror(errno)))")
        }
        // An existing file keeps its mode through O_CREAT.
        guard fchmod(descriptor, 0o600) == 0 else {
            let reason = String(cString: strerror(errno))
            close(descriptor)
            throw .internal("could not make \(path) mode 0600: \(reason)")
        }
        let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
        do {
            try handle.write(contentsOf: data)
            try handle.close()
        } catch {
            throw .internal("could not write \(path): \(error)")
        }
    }

    /// Creates `path` (and its parents) if needed and makes it 0700.
    static func makePrivateDirectory(_ path: String) throws(DriverError) {
        do {
            try FileManager.default.createDirectory(
                atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            try FileManager.default.setAttributes([.posixPermissions: 0o700], ofItemAtPath: path)
        } catch {
            throw .internal("could not create the private directory \(path): \(error)")
        }
    }
}
