import Synchronization

/// Records decoded from their stored JSON, by that JSON text: Redis is still read on every call, but
/// a record whose text did not change is not decoded again (decoding, not Redis, dominated
/// `GET /v1/status` for a 100-machine tenant). Bounded: emptied when it outgrows ``limit``.
final class DecodeCache<Value: Sendable>: Sendable {
    /// Most texts kept; past it the cache starts over.
    let limit: Int
    private let entries = Mutex<[String: Value]>([:])

    init(limit: Int = 20_000) {
        self.limit = limit
    }

    /// The value decoded from `text`, from the cache or from `decode` (then kept).
    func value<Failure: Error>(for text: String, decode: (String) throws(Failure) -> Value) throws(Failure) -> Value {
        if let cached = entries.withLock({ $0[text] }) { return cached }
        let value = try decode(text)
        entries.withLock { entries in
            if entries.count >= limit { entries.removeAll(keepingCapacity: true) }
            entries[text] = value
        }
        return value
    }
}
