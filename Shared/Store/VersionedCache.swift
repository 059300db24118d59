import Synchronization

/// Values read from Redis, each kept with the version key's value it was read under; a reader that
/// read a different version (in the same round trip as something else it needed) reads the value
/// again. Writers change the value first and the version after. Bounded: past ``limit`` entries
/// the cache starts over.
final class VersionedCache<Value: Sendable>: Sendable {
    let limit: Int
    private let entries = Mutex<[String: (version: String?, value: Value)]>([:])

    init(limit: Int) {
        self.limit = limit
    }

    /// The value kept for `key` if it was read under `version` (nil: the version key was absent).
    func value(for key: String, version: String?) -> Value? {
        entries.withLock { entries in
            guard let entry = entries[key], entry.version == version else { return nil }
            return entry.value
        }
    }

    /// Keeps `value`, read after `version` was.
    func keep(_ value: Value, for key: String, version: String?) {
        entries.withLock { entries in
            if entries[key] == nil, entries.count >= limit { entries.removeAll(keepingCapacity: true) }
            entries[key] = (version, value)
        }
    }
}
