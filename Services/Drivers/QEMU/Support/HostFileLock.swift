import Foundation
#if canImport(CDispatch)
// On Linux the Swift toolchain's CDispatch clang module owns Glibc's `struct stat`; MemberImportVisibility
// needs it imported to use the struct's initializer and fields.
import CDispatch
#endif

/// An exclusive `flock` on a lock file, held by one process of this host at a time: what the QEMU
/// driver's replicas on one host must not do at once (download one image, start or delete one
/// cluster's network).
///
/// Taken by polling with `LOCK_NB` and `Task.sleep`, so no thread blocks and cancellation works. The
/// holder deletes the file before unlocking, leaving no lock files behind; a waiter that then wins
/// the lock on the deleted file sees that its descriptor's inode is no longer the path's and starts
/// over on the new file, so two processes never both hold the lock.
struct HostFileLock {
    /// Why the lock was not taken.
    enum Failure: Error {
        case filesystem(String)
        /// The waiting task was cancelled.
        case cancelled
    }

    let descriptor: Int32
    let path: String

    /// Waits until this process holds the lock on `path` (created if missing).
    static func acquire(_ path: String) async throws(Failure) -> HostFileLock {
        while true {
            let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard descriptor >= 0 else {
                throw .filesystem("could not open lock file \(path): \(String(cString: strerror(errno)))")
            }
            while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
                let code = errno
                guard code == EWOULDBLOCK || code == EINTR else {
                    close(descriptor)
                    throw .filesystem("could not lock \(path): \(String(cString: strerror(code)))")
                }
                do {
                    try await Task.sleep(for: .milliseconds(20))
                } catch {
                    close(descriptor)
                    throw .cancelled
                }
            }
            var held = stat()
            var current = stat()
            if fstat(descriptor, &held) == 0, stat(path, &current) == 0, held.st_dev == current.st_dev, held.st_ino == current.st_ino {
                return HostFileLock(descriptor: descriptor, path: path)
            }
            close(descriptor)
        }
    }

    /// Deletes the lock file, then unlocks (closing the descriptor releases the `flock`).
    func release() {
        unlink(path)
        close(descriptor)
    }
}
