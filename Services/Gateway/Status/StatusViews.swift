import PazSchemas
import PazStore
import Synchronization

/// The gateway's prepared ``StatusView`` of each tenant, keyed by the tenant's status version.
///
/// Every request reads the version from Redis (with its authentication, or one small GET); only
/// when it moved are clusters, machines and states read and prepared again. Writers replace the version after their write, and
/// the snapshot reads it before the data, so a cached view is never older than what Redis holds.
/// Bounded: past ``limit`` tenants, one entry is dropped for each one added.
final class StatusViews: Sendable {
    /// The tenant's status version as already read for this request (``AuthMiddleware`` reads it in
    /// its own round trip), or ``VersionRead/notRead``.
    enum VersionRead: Sendable {
        case notRead
        /// Read during this request (nil: the tenant has none yet).
        case read(String?)
    }

    @TaskLocal static var readVersion: VersionRead = .notRead

    let limit: Int
    private let views = Mutex<[TenantID: StatusView]>([:])

    init(limit: Int = 256) {
        self.limit = limit
    }

    /// The tenant's view as of now.
    func view(tenant: TenantID, store: Store) async throws(StoreError) -> StatusView {
        if let cached = views.withLock({ $0[tenant] }) {
            let version: String?
            switch Self.readVersion {
            case .read(let read): version = read
            case .notRead: version = try await store.statusVersion(tenant: tenant)
            }
            if version == cached.version { return cached }
        }
        let snapshot = try await store.statusSnapshot(tenant: tenant)
        let view = StatusView(snapshot, version: snapshot.version)
        views.withLock { views in
            if views[tenant] == nil, views.count >= limit, let evicted = views.keys.randomElement() {
                views[evicted] = nil
            }
            views[tenant] = view
        }
        return view
    }
}
