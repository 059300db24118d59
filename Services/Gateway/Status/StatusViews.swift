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
    let limit: Int
    private let views = Mutex<[TenantID: StatusView]>([:])

    init(limit: Int = 256) {
        self.limit = limit
    }

    /// The tenant's view as of now.
    func view(tenant: TenantID, store: Store) async throws(StoreError) -> StatusView {
        if let cached = views.withLock({ $0[tenant] }) {
            let version = if let read = TenantVersions.read, read.key == .status { read.value }
                else { try await store.statusVersion(tenant: tenant) }
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
