import PazControlPlane
import Logging
import PazAMQP
import PazSchemas
import PazStore
import ServiceLifecycle

/// Polls every driver for the states of its machines, every ``CollectorConfiguration/interval``.
///
/// Of several collector replicas only one polls: the holder of the poller lease in Redis, which it
/// renews at the start of every round. The others stand by, trying to take the lease once per
/// interval; the holder gives it up on graceful shutdown, and one that dies loses it when it expires
/// (``CollectorConfiguration/pollerLeaseTTL``). Every machine is so polled once per interval.
///
/// A round lists the tenants, groups each tenant's machines by driver and runs one ``DriverPoll``
/// per (tenant, driver), at most ``CollectorConfiguration/concurrency`` at once. The first round
/// starts at once; the next starts one interval after the previous one started (or right after it
/// ended, if it took longer). On graceful shutdown the timer stops: the round in flight finishes (its
/// requests are bounded by the timeout), no new round starts.
package struct StatePoller: Service {
    private let connections: CollectorConnections
    private let recorder: StateRecorder
    private let interval: Duration
    private let timeout: Duration
    private let concurrency: Int
    private let instanceId: String
    private let leaseTTL: Duration
    private let logger: Logger

    init(connections: CollectorConnections, configuration: CollectorConfiguration, metrics: CollectorMetrics, logger: Logger) {
        self.connections = connections
        self.recorder = StateRecorder(amqp: connections.amqp, store: connections.store, metrics: metrics, logger: logger)
        self.interval = configuration.interval
        self.timeout = configuration.timeout
        self.concurrency = configuration.concurrency
        self.instanceId = configuration.instanceId
        self.leaseTTL = configuration.pollerLeaseTTL
        var logger = logger
        logger[metadataKey: "component"] = "poller"
        self.logger = logger
    }

    package func run() async throws {
        guard await connections.prepareTopology() else { return }
        logger.info("Polling driver states", metadata: ["interval": "\(interval)", "timeout": "\(timeout)"])
        let clock = ContinuousClock()
        var next = clock.now
        var isPolling = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let holdsLease = await holdLease(wasHolding: isPolling)
            if holdsLease { await pollRound() }
            isPolling = holdsLease
            next = max(next + interval, clock.now)
            guard await sleepUnlessShuttingDown(next - clock.now) else { break }
        }
        if isPolling { try? await connections.store.releasePollerLease(instance: instanceId) }
        logger.info("Poller stopped")
    }

    /// Takes or renews the poller lease; logs when this replica starts or stops polling. A Redis
    /// error counts as not holding it (another replica may hold it by now).
    private func holdLease(wasHolding: Bool) async -> Bool {
        let holds: Bool
        do {
            holds = try await connections.store.holdPollerLease(instance: instanceId, ttl: leaseTTL)
        } catch {
            logger.warning("Could not take or renew the poller lease; not polling this round", metadata: ["error": "\(error)"])
            return false
        }
        if holds != wasHolding {
            logger.info(holds ? "Holding the poller lease: polling" : "Another collector holds the poller lease: standing by",
                        metadata: ["instance": "\(instanceId)"])
        }
        return holds
    }

    /// One round over every tenant. Errors reading Redis end the round early (logged); the next
    /// round tries again.
    func pollRound() async {
        let polls: [DriverPoll]
        do {
            polls = try await plan()
        } catch {
            logger.error("Could not list tenants and machines; skipping this round", metadata: ["error": "\(error)"])
            return
        }
        await withTaskGroup(of: Void.self) { group in
            var pending = polls[...]
            for _ in 0..<min(concurrency, pending.count) {
                let poll = pending.removeFirst()
                group.addTask { await run(poll) }
            }
            while await group.next() != nil {
                if let poll = pending.popFirst() { group.addTask { await run(poll) } }
            }
        }
    }

    private func run(_ poll: DriverPoll) async {
        await poll.run(amqp: connections.amqp, recorder: recorder, timeout: timeout, logger: logger)
    }

    /// One poll per (tenant, driver) that has machines.
    private func plan() async throws(StoreError) -> [DriverPoll] {
        var polls: [DriverPoll] = []
        for tenant in try await connections.store.tenants() {
            let machines = try await connections.store.machines(tenant: tenant.id)
            let byDriver = Dictionary(grouping: machines, by: \.driver)
            for (driver, machines) in byDriver.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
                polls.append(DriverPoll(tenant: tenant.id, driver: driver, machines: machines.map(\.ref)))
            }
        }
        return polls
    }
}
