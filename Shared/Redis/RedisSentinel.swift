import CHiredis
import Foundation
import Logging
import PazConcurrency
import Synchronization

/// A Redis server address.
package struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    package var description: String { "\(host):\(port)" }
}

/// Where to ask for the primary when Redis runs with Sentinel: the sentinels' addresses and the name
/// they monitor the primary under (`sentinel monitor <name> …`).
package struct RedisSentinelConfiguration: Sendable {
    /// Asked in order; the first that answers decides.
    package var sentinels: [RedisEndpoint]
    /// The monitored primary's name.
    package var masterName: String
    /// `AUTH` at the sentinels (`requirepass` of sentinel.conf), when set. Never logged.
    package var password: String?

    package init(sentinels: [RedisEndpoint], masterName: String, password: String? = nil) {
        self.sentinels = sentinels
        self.masterName = masterName
        self.password = password
    }
}

/// Finds the Redis primary through Sentinel and follows failovers (hiredis has no Sentinel support).
///
/// - ``primary()`` asks the sentinels `SENTINEL get-master-addr-by-name` and keeps the answer until
///   it is known to be stale.
/// - A watcher on a thread of its own subscribes to `+switch-master` at one sentinel (the next one
///   when it fails) and moves to the new primary as soon as a failover ends.
/// - Every change bumps ``generation``: a connection made under an older generation is dropped
///   before its next command, so nothing more is written to a demoted primary. A connection also
///   reports a primary that turned out to be a replica (`ROLE`, or a `READONLY` reply) with
///   ``invalidate(generation:)``.
///
/// The blocking calls run on the connections' threads and the watcher's own, never on the pool.
final class RedisPrimaryLocator: Sendable {
    let configuration: RedisSentinelConfiguration
    /// The client's ``RedisConfiguration/address``, for error messages.
    private let address: String
    private let connectTimeout: Duration
    private let logger: Logger
    private let state = Mutex(State())
    private let watcher: DedicatedThread
    private let isClosed = Atomic<Bool>(false)
    private let switchHandlers = Mutex<[@Sendable () -> Void]>([])

    private struct State {
        var primary: RedisEndpoint?
        var generation: UInt64 = 1
    }

    init(configuration: RedisSentinelConfiguration, address: String, connectTimeout: Duration, logger: Logger) {
        self.configuration = configuration
        self.address = address
        self.connectTimeout = connectTimeout
        var logger = logger
        logger[metadataKey: "redis.sentinel.master"] = "\(configuration.masterName)"
        self.logger = logger
        watcher = DedicatedThread(name: "redis-sentinel")
        watcher.execute { [self] in watchSwitches() }
    }

    /// Stops the watcher (within its poll interval).
    func close() {
        isClosed.store(true, ordering: .relaxed)
        watcher.shutdown()
    }

    /// Calls `handler` (on the watcher's thread: it must not block) after each switch to a new primary.
    func onSwitch(_ handler: @escaping @Sendable () -> Void) {
        switchHandlers.withLock { $0.append(handler) }
    }

    /// Bumped whenever the primary may have changed.
    var generation: UInt64 { state.withLock { $0.generation } }

    /// The primary and the generation it belongs to; asks the sentinels when none is known.
    /// Blocking: call it on a connection's thread.
    func primary() throws(RedisError) -> (endpoint: RedisEndpoint, generation: UInt64) {
        if let known = state.withLock({ state in state.primary.map { ($0, state.generation) } }) { return known }
        let generation = generation
        let endpoint = try askSentinels()
        return state.withLock { state in
            if state.generation == generation { state.primary = endpoint }
            return (endpoint, state.generation)
        }
    }

    /// The primary of `generation` is not (or no longer) the primary: ask the sentinels again, and
    /// drop every connection made to it. Does nothing if a newer generation already replaced it.
    func invalidate(generation: UInt64, reason: String) {
        let changed = state.withLock { state in
            guard state.generation == generation else { return false }
            state.primary = nil
            state.generation += 1
            return true
        }
        if changed { logger.notice("Redis primary unknown; asking the sentinels again", metadata: ["reason": "\(reason)"]) }
    }

    /// The sentinels named `endpoint` as the primary: a switch if another one was known.
    private func adopt(_ endpoint: RedisEndpoint) {
        let isSwitch = state.withLock { state in
            guard let known = state.primary else {
                state.primary = endpoint
                return false
            }
            return known != endpoint
        }
        if isSwitch { switched(to: endpoint) }
    }

    /// A `+switch-master` said `endpoint` is the new primary.
    private func switched(to endpoint: RedisEndpoint) {
        let old = state.withLock { state -> RedisEndpoint? in
            defer {
                state.primary = endpoint
                state.generation += 1
            }
            return state.primary
        }
        logger.notice("Redis primary switched", metadata: [
            "redis.primary.old": "\(old.map(\.description) ?? "-")", "redis.primary.new": "\(endpoint)",
        ])
        for handler in switchHandlers.withLock({ $0 }) { handler() }
    }

    // MARK: - Asking the sentinels

    private func askSentinels() throws(RedisError) -> RedisEndpoint {
        var failures: [String] = []
        for sentinel in configuration.sentinels {
            do {
                let context = try RedisPlainContext(sentinel, password: configuration.password, timeout: connectTimeout, role: "sentinel")
                let answer = try context.command(["SENTINEL", "get-master-addr-by-name", configuration.masterName])
                guard answer.count == 2, let port = Int(answer[1]) else {
                    failures.append("\(sentinel): does not monitor '\(configuration.masterName)'")
                    continue
                }
                return RedisEndpoint(host: answer[0], port: port)
            } catch {
                failures.append("\(sentinel): \(error)")
            }
        }
        throw .connectionFailed(
            address: address, code: REDIS_ERR_OTHER,
            message: "no sentinel named the primary (\(failures.joined(separator: "; ")))")
    }

    // MARK: - Following failovers

    /// The watcher's loop: subscribed to `+switch-master` at one sentinel at a time until closed.
    private func watchSwitches() {
        var next = 0
        while !isClosed.load(ordering: .relaxed) {
            let sentinel = configuration.sentinels[next % configuration.sentinels.count]
            next += 1
            do {
                let context = try RedisPlainContext(sentinel, password: configuration.password, timeout: connectTimeout, role: "sentinel")
                try context.subscribe("+switch-master")
                // A switch may have happened while nobody listened.
                if let current = try? askSentinels() { adopt(current) }
                while !isClosed.load(ordering: .relaxed) {
                    guard case .text(let message)? = try context.nextMessage(waiting: .milliseconds(250))?.payload else { continue }
                    // "<name> <old-ip> <old-port> <new-ip> <new-port>"
                    let parts = message.split(separator: " ").map(String.init)
                    guard parts.count == 5, parts[0] == configuration.masterName, let port = Int(parts[4]) else { continue }
                    switched(to: RedisEndpoint(host: parts[3], port: port))
                }
            } catch {
                logger.warning("Sentinel watch interrupted; trying the next sentinel", metadata: [
                    "redis.sentinel": "\(sentinel)", "error": "\(error)",
                ])
                for _ in 0..<4 where !isClosed.load(ordering: .relaxed) { usleep(50_000) }
            }
        }
    }
}
