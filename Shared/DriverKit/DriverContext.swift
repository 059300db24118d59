import Foundation
package import Logging
package import PazControlPlane
package import PazSchemas
package import PazStore
import PazRedis

/// What a driver call gets besides its arguments: who asked (tenant, operation), a logger with
/// that metadata, and the tenant's per-machine storage — secret options, the driver-data blob and
/// the intent journal — plus a progress reporter for long operations.
package struct DriverContext: Sendable {
    /// The tenant the command concerns.
    package let tenant: TenantID
    /// The operation (nil for queries).
    package let operationId: OperationID?
    /// Logger carrying `tenant`, `operation`, `command` metadata. Never log secrets.
    package let logger: Logger
    /// The SSH broker, for host identities at create (nil where no broker is reachable, e.g. unit tests).
    package let sshBroker: SSHBrokerClient?
    private let store: Store
    private let reportProgress: @Sendable (MachineRef, String) async -> Void

    /// A context; the kit makes one per command (tests of a driver may make their own).
    package init(
        tenant: TenantID, operationId: OperationID?, logger: Logger, store: Store, sshBroker: SSHBrokerClient? = nil,
        progress: @escaping @Sendable (MachineRef, String) async -> Void = { _, _ in }
    ) {
        self.tenant = tenant
        self.operationId = operationId
        self.logger = logger
        self.store = store
        self.sshBroker = sshBroker
        self.reportProgress = progress
    }

    /// The machine's SSH host identity (host key, its certificate for `principals`, the tenant's user
    /// CA) from the SSH broker; `providerUnavailable` (retriable) when no broker is reachable or it
    /// refused, naming `what` the key is for ("the VM", "the instance").
    package func hostIdentity(for machine: MachineRef, principals: [String], of what: String) async throws(DriverError) -> HostIdentity {
        guard let sshBroker else {
            throw .providerUnavailable("no SSH broker is reachable to issue \(what)'s host key; retry when paz-ssh-broker runs")
        }
        do {
            return try await sshBroker.hostIdentity(tenant: tenant, machine: machine, principals: principals)
        } catch {
            throw .providerUnavailable("the SSH broker issued no host identity: \(error)")
        }
    }

    /// The machine's secret create options (name → value), opened with the master key. Commands
    /// never carry them: the gateway sealed them in Redis.
    package func secrets(for machine: MachineID) async throws(DriverError) -> [String: String] {
        do {
            return try await store.secrets(tenant: tenant, machine: machine)
        } catch {
            throw error.isRetriable ? .providerUnavailable("\(error)") : .internal("\(error)")
        }
    }

    /// The tenant's stored defaults for `driver` (`/v1/drivers/{driver}/defaults`): plain option
    /// values and the secret ones, opened. Queries that carry no options (catalog) use them.
    package func driverDefaults(
        _ driver: ResourceName
    ) async throws(DriverError) -> (options: [String: JSONValue], secrets: [String: String]) {
        do {
            guard let record = try await store.driverDefaults(tenant: tenant, driver: driver) else { return ([:], [:]) }
            return (record.options, try store.openSecrets(of: record, tenant: tenant, driver: driver))
        } catch {
            throw error.isRetriable ? .providerUnavailable("\(error)") : .internal("\(error)")
        }
    }

    /// Reports a step of a running operation (`event.operation`, phase running).
    package func progress(_ machine: MachineRef, step: String) async {
        await reportProgress(machine, step)
    }

    /// The driver's blob for `machine`, or nil when there is none. A blob written with another
    /// `version` is refused (the driver must migrate it explicitly).
    package func driverData<Value: Codable & Sendable>(
        _ type: Value.Type, version: Int, for machine: MachineID
    ) async throws(DriverError) -> Value? {
        let key = StoreKeys.driverData(tenant, machine)
        let text: String?
        do {
            text = try await store.redis.getString(key)
        } catch {
            throw .providerUnavailable("status store (Redis): \(error)")
        }
        guard let text else { return nil }
        let blob: DriverDataBlob<Value>
        do {
            blob = try MessageCodec.decodeValue(DriverDataBlob<Value>.self, from: Data(text.utf8))
        } catch {
            throw .internal("driver data \(key) is unreadable: \(error)")
        }
        guard blob.version == version else {
            throw .internal("driver data \(key) has version \(blob.version); this driver reads version \(version)")
        }
        return blob.data
    }

    /// Stores the driver's blob for `machine` (replacing any earlier one).
    package func saveDriverData<Value: Codable & Sendable>(
        _ value: Value, version: Int, for machine: MachineID
    ) async throws(DriverError) {
        let key = StoreKeys.driverData(tenant, machine)
        let json: Data
        do {
            json = try MessageCodec.encodeValue(DriverDataBlob(version: version, data: value))
        } catch {
            throw .internal("cannot encode driver data: \(error)")
        }
        do {
            try await store.redis.set(key, RedisArgument(bytes: Array(json)))
        } catch {
            throw .providerUnavailable("status store (Redis): \(error)")
        }
    }

    /// Forgets the driver's blob for `machine`; true when there was one.
    @discardableResult
    package func forgetDriverData(for machine: MachineID) async throws(DriverError) -> Bool {
        do {
            return try await store.redis.delete([StoreKeys.driverData(tenant, machine)]) > 0
        } catch {
            throw .providerUnavailable("status store (Redis): \(error)")
        }
    }

    /// The intent journal of `machine` (see ``IntentJournal``).
    package var journal: IntentJournal { IntentJournal(redis: store.redis, tenant: tenant) }
}

/// The stored form of a driver's blob: `{"version": n, "data": …}`.
struct DriverDataBlob<Value: Codable & Sendable>: Codable, Sendable {
    var version: Int
    var data: Value
}
