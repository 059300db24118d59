package import PazSchemas

/// Every Redis key Paz Machine uses, in one place (docs/control-plane.md, "Redis keyspace").
///
/// Global keys start with `paz:`; everything a tenant owns lives under `paz:t:<tenant>:`, so one
/// tenant's data can be listed, exported or removed by prefix.
package enum StoreKeys {
    /// HASH tenant id → ``TenantRecord`` JSON.
    package static let tenants = "paz:tenants"
    /// HASH tenant name → tenant id (names are unique).
    package static let tenantNames = "paz:tenant-names"
    /// HASH SHA-256(token) → ``TokenRecord`` JSON. Tokens themselves are never stored.
    package static let tokens = "paz:tokens"
    /// What every registry entry's key starts with.
    package static let registryRoot = "paz:registry:"
    /// STRING ``PazSchemas/DriverAnnouncement`` JSON with a TTL: `paz:registry:<driver>:<instance>`.
    package static func registry(driver: String, instance: String) -> String { registryRoot + "\(driver):\(instance)" }
    /// Pattern of every registry entry (for ACLs).
    package static let registryPattern = registryRoot + "*"
    /// ZSET `<driver>:<instance>` → when its registry entry expires (unix milliseconds).
    package static let registryIndex = "paz:registry-index"

    /// What every tenant's prefix starts with.
    package static let tenantPrefixRoot = "paz:t:"
    /// Prefix of everything `tenant` owns.
    package static func tenantPrefix(_ tenant: TenantID) -> String { tenantPrefixRoot + tenant.rawValue + ":" }
    /// STRING the tenant's request count in one second (rate limit), expiring after 2 s.
    package static func rateWindow(_ tenant: TenantID, second: Int) -> String { tenantPrefix(tenant) + "rate:\(second)" }
    /// HASH cluster id → ``ClusterRecord`` JSON.
    package static func clusters(_ tenant: TenantID) -> String { tenantPrefix(tenant) + "clusters" }
    /// HASH cluster name → cluster id.
    package static func clusterNames(_ tenant: TenantID) -> String { tenantPrefix(tenant) + "cluster-names" }
    /// HASH machine id → ``MachineRecord`` JSON.
    package static func machines(_ tenant: TenantID) -> String { tenantPrefix(tenant) + "machines" }
    /// HASH machine name → machine id (names are unique per tenant; claimed with the machine record).
    package static func machineNames(_ tenant: TenantID) -> String { tenantPrefix(tenant) + "machine-names" }
    /// HASH machine id → ``StateRecord`` JSON; written only through the compare-and-set script.
    package static func states(_ tenant: TenantID) -> String { tenantPrefix(tenant) + "states" }
    /// STRING a random token, replaced by every write to the tenant's clusters, machines or states
    /// (in the same script or pipeline, after the write): what the gateway's status view is keyed by.
    package static func statusVersion(_ tenant: TenantID) -> String { tenantPrefix(tenant) + statusVersionSuffix }
    /// What ``statusVersion(_:)`` adds to the tenant's prefix (for scripts that find the tenant first).
    package static let statusVersionSuffix = "status-version"
    /// STRING ``OperationRecord`` JSON.
    package static func operation(_ tenant: TenantID, _ operation: OperationID) -> String {
        tenantPrefix(tenant) + "op:\(operation.rawValue)"
    }
    /// HASH machine id → ``PazSchemas/MachineProgress`` JSON: an operation's per-machine progress.
    package static func operationProgress(_ tenant: TenantID, _ operation: OperationID) -> String {
        tenantPrefix(tenant) + "op:\(operation.rawValue):progress"
    }
    /// STRING ``IdempotencyRecord`` JSON, expiring after a day (``IdempotencyScope``).
    package static func idempotency(_ tenant: TenantID, key: String) -> String { tenantPrefix(tenant) + "idem:\(key)" }
    /// Prefix of the administrator's ``AdminIdempotencyRecord``s (STRING JSON, expiring after a day).
    package static let adminIdempotencyPrefix = "paz:admin:idem:"
    /// ZSET the administrator's idempotency record keys → their expiry.
    package static let adminIdempotencyIndex = "paz:admin:idem-index"
    /// ZSET idempotency record key → its expiry (unix seconds): bounds the keys a tenant holds.
    package static func idempotencyIndex(_ tenant: TenantID) -> String { tenantPrefix(tenant) + "idem-index" }
    /// STRING a machine's secret options, sealed with the master key.
    package static func secrets(_ tenant: TenantID, _ machine: MachineID) -> String {
        tenantPrefix(tenant) + "secret:\(machine.rawValue)"
    }
    /// STRING ``DriverDefaultsRecord`` JSON: the tenant's option defaults for one driver.
    /// STRING a counter, incremented after every change of the tenant's driver defaults: what the
    /// store's cache of them is keyed by.
    package static func driverDefaultsVersion(_ tenant: TenantID) -> String { tenantPrefix(tenant) + driverDefaultsVersionSuffix }
    /// What ``driverDefaultsVersion(_:)`` adds to the tenant's prefix.
    package static let driverDefaultsVersionSuffix = "driver-defaults-version"
    package static func driverDefaults(_ tenant: TenantID, driver: ResourceName) -> String {
        tenantPrefix(tenant) + "driver-defaults:\(driver.rawValue)"
    }
    /// STRING the driver's own versioned blob for a machine (what it needs to find it again).
    package static func driverData(_ tenant: TenantID, _ machine: MachineID) -> String {
        tenantPrefix(tenant) + "driver-data:\(machine.rawValue)"
    }
    /// HASH step → status: the driver's intent journal for a machine (written before each mutation).
    package static func journal(_ tenant: TenantID, _ machine: MachineID) -> String {
        tenantPrefix(tenant) + "journal:\(machine.rawValue)"
    }
    /// STRING an OutboxEntry: commands of an operation whose publish was not confirmed yet.
    package static func outbox(_ tenant: TenantID, _ operation: OperationID) -> String {
        tenantPrefix(tenant) + "outbox:\(operation.rawValue)"
    }
    /// ZSET `<tenant>/<operation>` scored by when the outbox relay publishes its entry next.
    package static let outboxSchedule = "paz:outbox"
    /// STRING `<fence>:<owner>` with a TTL: the lease of the one command running on a machine
    /// (``PazDriverKit/MachineLease``); renewed while the command runs, deleted when it ends.
    package static func lease(_ tenant: TenantID, _ machine: MachineID) -> String {
        tenantPrefix(tenant) + "lease:\(machine.rawValue)"
    }
    /// STRING counter: every lease taken gets the next number (its fencing token).
    package static let leaseFence = "paz:lease-fence"
    /// STRING the instance id of the status collector that polls (``Store/holdPollerLease(instance:ttl:)``),
    /// with a TTL.
    package static let pollerLease = "paz:collector:poller-lease"
    /// HASH the tenant's SSH certificate authorities (user CA and host CA), written only by the SSH
    /// broker: field `sealed` = both private keys sealed with the master key (context: this key),
    /// `user.pub` / `host.pub` = their public key lines, `createdAt`. Created once with HSETNX.
    package static func sshCertificateAuthorities(_ tenant: TenantID) -> String { tenantPrefix(tenant) + "ssh-ca" }
    /// STREAM one entry per certificate the SSH broker issued for the tenant (never key material),
    /// trimmed to about ``sshAuditMaxLength`` entries.
    package static func sshAudit(_ tenant: TenantID) -> String { tenantPrefix(tenant) + "ssh-audit" }
    /// The approximate `MAXLEN ~` of ``sshAudit(_:)``.
    package static let sshAuditMaxLength = 100_000
    /// Every per-machine key that is not a hash field (removed with the machine).
    package static func machineKeys(_ tenant: TenantID, _ machine: MachineID) -> [String] {
        [secrets(tenant, machine), driverData(tenant, machine), journal(tenant, machine), lease(tenant, machine)]
    }
}
