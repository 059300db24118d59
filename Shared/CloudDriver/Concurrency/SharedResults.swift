package import PazDriverKit

/// Values made once per key however many callers ask at once: the first caller makes it, the others
/// wait for its answer. A failure is not kept; a value is kept for ``lifetime`` (nil: until forgotten).
/// The cloud drivers keep each cluster's security group, SSH key and firewall this way (twenty
/// machines of one cluster make one of each), and the images they resolved (twenty machines of one
/// image look it up once).
package actor SharedResults<Key: Hashable & Sendable, Value: Sendable> {
    private var entries: [Key: (task: Task<Value, any Error>, made: ContinuousClock.Instant)] = [:]
    private let lifetime: Duration?

    package init(lifetime: Duration? = nil) {
        self.lifetime = lifetime
    }

    /// The value of `key`: kept, or from `make` (once, for every caller waiting meanwhile).
    package func value(_ key: Key, make: @escaping @Sendable () async throws(DriverError) -> Value) async throws(DriverError) -> Value {
        let task: Task<Value, any Error>
        if let entry = entries[key], lifetime.map({ ContinuousClock.now - entry.made < $0 }) ?? true {
            task = entry.task
        } else {
            task = Task { try await make() }
            entries[key] = (task, .now)
        }
        do {
            return try await task.value
        } catch {
            if entries[key]?.task == task { entries[key] = nil }
            throw (error as? DriverError) ?? .internal("\(error)")
        }
    }

    /// Forgets the value of `key` (it no longer holds).
    package func forget(_ key: Key) {
        entries[key] = nil
    }
}
