import Foundation
@testable import PazQEMUDriver
import PazLocalServers
import Synchronization
import Testing

@Suite("HostFileLock: one holder at a time across descriptors (as across processes)")
struct HostFileLockTests {
    @Test("a second acquire waits until the first is released; no lock file is left")
    func exclusive() async throws {
        let directory = try ScratchDirectory.make(prefix: "paz-host-lock")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("cluster-x.lock").path
        let first = try await HostFileLock.acquire(path)
        let secondHeld = Atomic<Bool>(false)
        let second = Task {
            let lock = try await HostFileLock.acquire(path)
            secondHeld.store(true, ordering: .sequentiallyConsistent)
            lock.release()
        }
        try await Task.sleep(for: .milliseconds(300))
        let tookItEarly = secondHeld.load(ordering: .sequentiallyConsistent)
        #expect(!tookItEarly, "the second took the lock while the first held it")
        first.release()
        try await second.value
        let tookIt = secondHeld.load(ordering: .sequentiallyConsistent)
        #expect(tookIt)
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("a waiter is cancelled: it stops waiting with .cancelled")
    func cancelled() async throws {
        let directory = try ScratchDirectory.make(prefix: "paz-host-lock")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("busy.lock").path
        let held = try await HostFileLock.acquire(path)
        defer { held.release() }
        let waiter = Task { () async -> Bool in
            do throws(HostFileLock.Failure) {
                _ = try await HostFileLock.acquire(path)
                return false
            } catch {
                if case .cancelled = error { return true }
                return false
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        waiter.cancel()
        #expect(await waiter.value)
    }
}
