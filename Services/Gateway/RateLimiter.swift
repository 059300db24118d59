import Foundation
import PazSchemas
import PazStore
import Synchronization

/// Each tenant's per-second request limit, counted in Redis (`paz:t:<tenant>:rate:<second>`, shared
/// by every gateway) with permits leased in growing batches: when a gateway has no permit left for
/// the current second, one request leases the next batch (1, then 2, 4…, up to a sixteenth of the
/// limit) while requests that come meanwhile lease one each. A busy tenant costs a few small scripts
/// a second, not a round trip per request.
///
/// A gateway never lets more requests through than Redis granted it, so all gateways together stay
/// within the limit. Permits a gateway leased but did not use before the second ended are lost: with
/// several gateways, a tenant at its limit may be refused up to one batch (limit / 16) per gateway
/// early. Bounded: windows of past seconds are dropped once more than ``maxTenants`` are kept.
final class RateLimiter: Sendable {
    /// Requests per second one tenant may make (all its tokens together).
    let limit: Int
    private let store: Store
    private let maxBatch: Int
    private let windows = Mutex<[TenantID: Window]>([:])
    static let maxTenants = 10_000

    private struct Window {
        let second: Int
        /// Leased and not used yet.
        var permits = 0
        /// The size of the next batch.
        var nextBatch = 1
        /// True while one request leases the next batch.
        var isLeasingBatch = false
    }

    init(limit: Int, store: Store) {
        self.limit = limit
        self.store = store
        maxBatch = max(1, limit / 16)
    }

    /// Counts one request of `tenant`; false when it is over the limit of the current second.
    func admit(_ tenant: TenantID, now: Date = Date()) async throws(StoreError) -> Bool {
        let second = Int(now.timeIntervalSince1970)
        let lease: (count: Int, isBatch: Bool)? = windows.withLock { windows in
            if let window = windows[tenant], window.second > second { return (1, false) }  // a request of a second already past
            if windows[tenant] == nil, windows.count >= Self.maxTenants {
                windows = windows.filter { $0.value.second == second }
            }
            var window = windows[tenant].flatMap { $0.second == second ? $0 : nil } ?? Window(second: second)
            defer { windows[tenant] = window }
            if window.permits > 0 {
                window.permits -= 1
                return nil
            }
            guard !window.isLeasingBatch else { return (1, false) }
            window.isLeasingBatch = true
            return (window.nextBatch, true)
        }
        guard let lease else { return true }
        let counted: Int
        do {
            counted = try await store.countRequests(tenant: tenant, second: second, count: lease.count)
        } catch {
            if lease.isBatch { windows.withLock { if $0[tenant]?.second == second { $0[tenant]?.isLeasingBatch = false } } }
            throw error
        }
        let granted = max(0, min(lease.count, limit - (counted - lease.count)))
        if lease.isBatch {
            windows.withLock { windows in
                guard var window = windows[tenant], window.second == second else { return }
                window.isLeasingBatch = false
                window.permits += max(0, granted - 1)
                window.nextBatch = min(maxBatch, window.nextBatch * 2)
                windows[tenant] = window
            }
        }
        return granted > 0
    }
}
