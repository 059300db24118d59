import PazSchemas
import PazStore
import Synchronization

/// The registry's live drivers as read at most ``maxAge`` ago, for the accept path (every create and
/// lifecycle call checks the driver): a driver that is found is taken from the last read; one that is
/// not is looked up again at once, so a driver that just announced itself is never refused. A driver
/// that went away may be offered ``maxAge`` longer — well inside its entry's own TTL.
final class LiveDriverCache: Sendable {
    let maxAge: Duration
    private let last = Mutex<(readAt: ContinuousClock.Instant, drivers: [DriverAnnouncement])?>(nil)

    init(maxAge: Duration = .seconds(1)) {
        self.maxAge = maxAge
    }

    /// The live replicas of `name` (empty when it has none).
    func replicas(of name: String, store: Store) async throws(StoreError) -> [DriverAnnouncement] {
        let now = ContinuousClock.now
        if let cached = last.withLock({ $0 }), now - cached.readAt < maxAge {
            let replicas = cached.drivers.filter { $0.name.rawValue == name }
            if !replicas.isEmpty { return replicas }
        }
        let drivers = try await store.liveDrivers()
        last.withLock { $0 = (now, drivers) }
        return drivers.filter { $0.name.rawValue == name }
    }
}
