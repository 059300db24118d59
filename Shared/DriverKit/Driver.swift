package import PazSchemas

/// A machine driver: what one provider (existing hosts over SSH, QEMU, a cloud) can do, behind the
/// driver kit's consumer loop (``DriverService``). Docker Machine's driver interface, made async,
/// batched (``states(of:context:)``) and idempotent.
///
/// Rules every implementation follows:
/// - ``create(_:context:)`` adopts: a redelivered create finds what an earlier attempt made (keep
///   what you need in the driver-data blob, ``DriverContext/saveDriverData(_:for:)``) instead of
///   making it twice.
/// - ``remove(_:context:)`` of a machine that is gone already succeeds (`alreadyGone`).
/// - An operation the provider cannot do throws ``DriverError/unsupported(operation:reason:)``.
/// - Errors are ``DriverError``s; anything else is reported as `internal` and not retried.
package protocol Driver: Sendable {
    /// The driver's name: its queue is `paz.driver.<name>.commands`.
    var name: ResourceName { get }
    /// The driver's software version (announced in the registry).
    var version: String { get }
    /// What the driver can do (announced; the gateway hides what is missing).
    var capabilities: [DriverCapability] { get }
    /// The options `machine.create` accepts (announced; the gateway validates against them).
    var createOptions: [CreateOptionSpec] { get }

    /// Checks credentials, quota and names for machines about to be created; warnings are not errors.
    func preCreateCheck(_ machines: [MachineCreate], context: DriverContext) async throws(DriverError) -> PreCreateCheckResult
    /// Creates (or adopts) one machine and returns it, running.
    func create(_ request: MachineCreate, context: DriverContext) async throws(DriverError) -> MachineDetails
    /// Removes one machine; one that no longer exists is a success with `alreadyGone`.
    func remove(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> RemovalResult
    /// Starts a stopped machine.
    func start(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> MachineDetails
    /// Stops a machine gracefully (`timeout`: how long to wait before giving up or forcing).
    func stop(_ machine: MachineRef, timeout: Duration?, context: DriverContext) async throws(DriverError) -> MachineDetails
    /// Restarts a machine.
    func restart(_ machine: MachineRef, timeout: Duration?, context: DriverContext) async throws(DriverError) -> MachineDetails
    /// Powers a machine off at once.
    func kill(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> MachineDetails
    /// The states of many machines of one tenant in ONE batched call (one provider list call, or a
    /// bounded concurrent check). Machines missing from the answer are reported `unknown`.
    func states(of machines: [MachineRef], context: DriverContext) async throws(DriverError) -> [MachineRef: MachineStateObservation]
    /// Catalog: images matching `query`.
    func images(_ query: CatalogImagesQuery, context: DriverContext) async throws(DriverError) -> [CatalogImage]
    /// Catalog: sizes.
    func sizes(_ query: CatalogSizesQuery, context: DriverContext) async throws(DriverError) -> [CatalogSize]
    /// Catalog: locations.
    func locations(context: DriverContext) async throws(DriverError) -> [CatalogLocation]
    /// Looks inside a machine over SSH (uptime, load, OS).
    func probe(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> ProbeResult
}

extension Driver {
    /// No checks: no warnings.
    package func preCreateCheck(_ machines: [MachineCreate], context: DriverContext) async throws(DriverError) -> PreCreateCheckResult {
        PreCreateCheckResult()
    }

    /// Not implemented by default.
    package func probe(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> ProbeResult {
        throw .unsupported(operation: "probe", reason: "the \(name) driver cannot probe machines yet")
    }
}
