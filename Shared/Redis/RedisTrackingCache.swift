import Logging
import Synchronization

/// Values read from Redis, kept in memory until Redis says their key changed: client-side caching
/// with `CLIENT TRACKING` (RESP2, invalidations redirected to ``RedisInvalidationListener``).
///
/// A hit costs no round trip and no thread hop, and is never older than Redis: it is served only
/// while the subscription that would announce its change is up and has no invalidation unread or
/// unapplied (``RedisInvalidationListener/isQuiet(generation:)``). A miss reads through a connection
/// of its own that Redis tracks, and keeps the value unless an invalidation of its key arrived while
/// the read was on its way. When the subscription breaks, everything is forgotten and every read
/// goes to Redis (failing fast, like ``RedisClient``, while Redis is unreachable) until it is back.
///
/// Bounded: at most `limit` values; past it, the values of one key are dropped for each key added.
/// Hash fields that do not exist are not kept (a stranger's guesses must not fill the cache).
package final class RedisTrackingCache: Sendable {
    /// The Pub/Sub channel the invalidations arrive on (an ACL user of the cache needs it).
    package static let invalidationChannel = RedisInvalidationListener.channel

    private let values: TrackedValues
    private let listener: RedisInvalidationListener
    private let reads: RedisClient

    /// A cache that reads through `client`'s server (its primary, with Sentinel) on a connection of
    /// its own, and subscribes on another.
    package init(client: RedisClient, limit: Int = 10_000) {
        let values = TrackedValues(limit: limit)
        self.values = values
        var logger = client.logger
        logger[metadataKey: "redis.role"] = "tracking"
        let listener = RedisInvalidationListener(configuration: client.configuration, locator: client.locator, logger: logger) {
            values.invalidate($0)
        }
        self.listener = listener
        var configuration = client.configuration
        configuration.poolSize = 1
        reads = RedisClient(configuration: configuration, locator: client.locator, ownsLocator: false, tracking: listener, logger: logger)
    }

    deinit {
        listener.close()
    }

    /// Stops the subscription and closes the tracking connection.
    package func close() async {
        listener.close()
        await reads.close()
    }

    /// `GET key`.
    package func get(_ key: String) async throws(RedisError) -> [UInt8]? {
        try await value(key, field: nil)
    }

    /// `HGET key field`.
    package func hget(_ key: String, field: String) async throws(RedisError) -> [UInt8]? {
        try await value(key, field: field)
    }

    private func value(_ key: String, field: String?) async throws(RedisError) -> [UInt8]? {
        let generation = listener.generation
        if let generation, listener.isQuiet(generation: generation), let hit = values.lookup(key, field: field ?? "") {
            return hit
        }
        values.beginRead(key)
        let read: [UInt8]?
        do {
            read = try await reads.command(field.map { ["HGET", RedisArgument(key), RedisArgument($0)] } ?? ["GET", RedisArgument(key)]).bytes
        } catch {
            values.endRead(key, keeping: nil)
            throw error
        }
        // Kept only under the generation the read started in (none: no subscription, nothing kept).
        let keep = read != nil || field == nil
        values.endRead(key, keeping: keep ? (field ?? "", read) : nil) { [listener] in
            generation.map { listener.isQuiet(generation: $0) } ?? false
        }
        return read
    }
}

/// The cache's values and the reads on their way, under one lock.
private final class TrackedValues: Sendable {
    private let limit: Int
    private let state = Mutex(State())

    private struct State {
        /// Key → field (`""` for a string key) → value (nil: the key does not exist).
        var values: [String: [String: [UInt8]?]] = [:]
        var count = 0
        /// Reads on their way, by key: how many, and whether the key was invalidated meanwhile.
        var pending: [String: (readers: Int, invalidated: Bool)] = [:]
    }

    init(limit: Int) {
        self.limit = limit
    }

    func lookup(_ key: String, field: String) -> [UInt8]?? {
        state.withLock { $0.values[key]?[field] }
    }

    func invalidate(_ invalidation: RedisInvalidationListener.Invalidation) {
        state.withLock { state in
            switch invalidation {
            case .keys(let keys):
                for key in keys {
                    if let fields = state.values.removeValue(forKey: key) { state.count -= fields.count }
                    state.pending[key]?.invalidated = true
                }
            case .everything:
                state.values.removeAll()
                state.count = 0
                for key in state.pending.keys { state.pending[key]?.invalidated = true }
            }
        }
    }

    func beginRead(_ key: String) {
        state.withLock { $0.pending[key, default: (0, false)].readers += 1 }
    }

    /// Ends one read of `key` and keeps its `value` (field, value) unless the key was invalidated
    /// meanwhile or `stillCurrent` (checked under the lock) says otherwise. True when it was kept.
    @discardableResult
    func endRead(_ key: String, keeping value: (field: String, value: [UInt8]?)?, stillCurrent: () -> Bool = { false }) -> Bool {
        state.withLock { state in
            guard var pending = state.pending[key] else { return false }
            pending.readers -= 1
            state.pending[key] = pending.readers == 0 ? nil : pending
            guard let value, !pending.invalidated, stillCurrent() else { return false }
            if state.values[key] == nil, state.count >= limit, let evicted = state.values.keys.randomElement() {
                state.count -= state.values.removeValue(forKey: evicted)?.count ?? 0
            }
            if state.values[key, default: [:]].updateValue(value.value, forKey: value.field) == nil { state.count += 1 }
            return true
        }
    }
}
