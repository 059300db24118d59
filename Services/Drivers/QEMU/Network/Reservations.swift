import Foundation

/// Claims on numbered things shared by the VMs of this host (loopback ports, cluster addresses):
/// one file per claimed number in `directory`, created with O_EXCL and holding the claimant's name,
/// so two claims can never get the same number and a restarted driver still knows who holds what.
struct Reservations: Sendable {
    let directory: URL

    /// The number `owner` holds, if any.
    func held(by owner: String) -> Int? {
        entries().first { $0.owner == owner }?.number
    }

    /// Every number held, with its owner.
    func entries() -> [(number: Int, owner: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.compactMap { name in
            guard let number = Int(name),
                  let owner = try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            else { return nil }
            return (number, owner)
        }.sorted { $0.number < $1.number }
    }

    /// Claims `number` for `owner`; false when someone holds it already.
    func claim(_ number: Int, for owner: String) throws(QEMUError) -> Bool {
        do {
            try FileManager.default.createDirectory(
                at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw .filesystem("cannot create \(directory.path): \(error)")
        }
        let path = directory.appendingPathComponent(String(number)).path
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            if errno == EEXIST { return false }
            throw .filesystem("cannot create \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let bytes = Array(owner.utf8)
        guard write(descriptor, bytes, bytes.count) == bytes.count else {
            unlink(path)
            throw .filesystem("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        return true
    }

    /// Releases whatever `owner` holds.
    func release(owner: String) {
        for entry in entries() where entry.owner == owner {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(String(entry.number)))
        }
    }
}
