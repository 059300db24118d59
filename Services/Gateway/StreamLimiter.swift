import HTTPTypes
import PazSchemas
import Synchronization

/// Counts the operation event streams each tenant holds open on this gateway, so one tenant cannot
/// hold unbounded connections and polling tasks.
final class StreamLimiter: Sendable {
    private let limit: Int
    private let open = Mutex<[TenantID: Int]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// Takes a slot for `tenant`; 429 when it holds ``limit`` already. Give it back with ``release(_:)``.
    func acquire(_ tenant: TenantID) throws(GatewayProblem) {
        let taken = open.withLock { open in
            guard open[tenant, default: 0] < limit else { return false }
            open[tenant, default: 0] += 1
            return true
        }
        guard taken else {
            throw GatewayProblem(
                .tooManyRequests, "limit-reached", "Too many event streams",
                detail: "this tenant holds \(limit) open operation event streams; close one first", retryAfter: 5)
        }
    }

    func release(_ tenant: TenantID) {
        open.withLock { open in
            open[tenant, default: 1] -= 1
            if open[tenant] == 0 { open[tenant] = nil }
        }
    }
}
