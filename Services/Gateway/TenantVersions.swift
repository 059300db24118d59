import PazStore

/// The tenant version ``AuthMiddleware`` read with the bearer token, in the same round trip, for
/// the operations that need one (status: the status version; creates: the driver defaults version).
enum TenantVersions {
    struct Read: Sendable {
        let key: Store.TenantVersion
        /// Nil when the tenant has no such version yet.
        let value: String?
    }

    /// This request's read, or nil when none was made.
    @TaskLocal static var read: Read?
}
