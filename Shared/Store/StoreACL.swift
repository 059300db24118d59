package import PazSchemas
import PazRedis

/// The Redis ACL of each service kind (docs/security.md, "Service credentials"): the key patterns
/// and the commands of everything it does through ``Store`` and the driver kit, and nothing else.
/// Lua scripts run with the caller's ACL, so the commands they call are listed too.
///
/// `~` = read and write, `%R~` = read only, `%W~` = write only (deleting counts as a write).
package enum StoreACL {
    /// Everything `tenant`-scoped, for every tenant.
    private static let anyTenant = "paz:t:*:"

    /// `ACL SETUSER` rules for `kind` (without `on` and the password): key patterns, Pub/Sub
    /// channels (only the gateway's key invalidations), and the commands. `ROLE` lets a client behind
    /// Sentinel check that it reached the primary (it shows the replication topology, nothing stored).
    package static func rules(for kind: ServiceKind) -> [String] {
        ["resetkeys", "resetchannels", "-@all", "+ping", "+select", "+role"] + keys(for: kind) + channels(for: kind)
            + commands(for: kind).map { "+" + $0 }
    }

    private static func channels(for kind: ServiceKind) -> [String] {
        switch kind {
        case .gateway: ["&" + RedisTrackingCache.invalidationChannel]
        case .statusCollector, .sshBroker, .driver: []
        }
    }

    private static func keys(for kind: ServiceKind) -> [String] {
        switch kind {
        case .gateway:
            [
                "~" + StoreKeys.tenants, "~" + StoreKeys.tenantNames, "~" + StoreKeys.tokens,
                "%R~" + StoreKeys.registryPattern,
                // Read by a script (liveDrivers), and a script's declared keys need read and write access.
                "~" + StoreKeys.registryIndex,
                "~\(anyTenant)clusters", "~\(anyTenant)cluster-names", "~\(anyTenant)machines", "~\(anyTenant)states",
                "~\(anyTenant)status-version", "~\(anyTenant)op:*", "~\(anyTenant)idem:*", "~\(anyTenant)idem-index", "~\(anyTenant)machine-names",
                "~\(anyTenant)rate:*", "~\(anyTenant)driver-defaults:*", "~\(anyTenant)driver-defaults-version",
                "~\(anyTenant)outbox:*", "~" + StoreKeys.outboxSchedule,
                "~" + StoreKeys.adminIdempotencyPrefix + "*", "~" + StoreKeys.adminIdempotencyIndex,
                // Sealed secret options are written here and read only by drivers; a removed
                // machine's driver data and journal are deleted here, and a removed tenant's every key.
                "%W~\(anyTenant)*",
            ]
        case .statusCollector:
            // Machine records are only read, but the state compare-and-set script declares them, and
            // a script's declared keys need read and write access.
            [
                "%R~" + StoreKeys.tenants, "~\(anyTenant)machines", "~\(anyTenant)states", "~\(anyTenant)status-version",
                "~" + StoreKeys.pollerLease,
            ]
        case .sshBroker:
            ["%R~\(anyTenant)machines", "~\(anyTenant)ssh-ca", "~\(anyTenant)ssh-audit"]
        case .driver(let name):
            [
                "~" + StoreKeys.registry(driver: name.rawValue, instance: "*"),
                // The index of every driver's entries: a forged member without its entry is ignored.
                "~" + StoreKeys.registryIndex,
                "%R~\(anyTenant)secret:*", "~\(anyTenant)driver-data:*", "~\(anyTenant)journal:*",
                // Per-machine command leases and their fencing counter (shared by every driver).
                "~\(anyTenant)lease:*", "~" + StoreKeys.leaseFence,
                // The tenant's defaults for this driver only (catalog queries carry no options).
                "%R~\(anyTenant)driver-defaults:\(name.rawValue)",
            ]
        }
    }

    private static func commands(for kind: ServiceKind) -> [String] {
        let scripts = ["evalsha", "script|load"]
        switch kind {
        case .gateway:
            // client|id, client|tracking and subscribe: the tracking cache of tokens and tenant versions.
            return ["get", "set", "del", "expire", "mget", "scan", "hset", "hsetnx", "hget", "hgetall", "hdel", "hexists", "hlen",
                    "incr", "incrby", "client|id", "client|tracking", "subscribe", "zadd", "zrem", "zcard", "zremrangebyscore", "zrangebyscore"]
                + scripts
        case .statusCollector:
            // get, pexpire and del: the poller lease's scripts (a script's commands are checked too).
            return ["hget", "hgetall", "hset", "hexists", "set", "get", "pexpire", "del"] + scripts
        case .sshBroker:
            return ["hget", "hgetall", "hset", "hsetnx", "xadd"]
        case .driver:
            return ["get", "set", "del", "hget", "hset", "hgetall", "exists", "incr", "pexpire", "zadd", "zrem", "zremrangebyscore"]
                + scripts
        }
    }
}
