import Foundation
import PazDriverKit
import PazSchemas
import Synchronization

/// A real in-memory driver: machines live in a dictionary; every call is counted.
final class RecordingDriver: Driver {
    let name: ResourceName
    let version = "9.9.9"
    let capabilities: [DriverCapability] = [.create, .remove, .stop, .states]
    let createOptions = [CreateOptionSpec(name: "flavour", type: .string, description: "test option")]
    /// Machine id → state.
    let machines = Mutex<[MachineID: MachineState]>([:])
    let calls = Mutex<[String: Int]>([:])
    /// How long the next creates take (consumed one per create; none left: instant).
    let createDelays = Mutex<[Duration]>([])
    /// Calls running per machine now, and the most ever seen at once on one machine.
    private let running = Mutex<(now: [MachineID: Int], most: Int)>(([:], 0))

    init(name: ResourceName) { self.name = name }

    /// The most calls that ever ran at once on one machine.
    var mostConcurrentOnOneMachine: Int { running.withLock { $0.most } }

    private func track<T>(_ machine: MachineID, _ body: () async throws(DriverError) -> T) async throws(DriverError) -> T {
        running.withLock { state in
            state.now[machine, default: 0] += 1
            state.most = max(state.most, state.now[machine]!)
        }
        defer { running.withLock { $0.now[machine, default: 1] -= 1 } }
        return try await body()
    }

    func count(_ call: String) -> Int { calls.withLock { $0[call, default: 0] } }

    private func record(_ call: String) { calls.withLock { $0[call, default: 0] += 1 } }

    func create(_ request: MachineCreate, context: DriverContext) async throws(DriverError) -> MachineDetails {
        try await track(request.machineId) { () async throws(DriverError) in try await createNow(request, context: context) }
    }

    private func createNow(_ request: MachineCreate, context: DriverContext) async throws(DriverError) -> MachineDetails {
        record("create")
        let delay = createDelays.withLock { $0.isEmpty ? Duration.zero : $0.removeFirst() }
        do {
            try await Task.sleep(for: delay)
        } catch {
            record("create-cancelled")
            throw .timeout("the create was cancelled")
        }
        let created = machines.withLock { machines in
            if machines[request.machineId] != nil { return false }
            machines[request.machineId] = .running
            return true
        }
        if !created { record("create-twice") }
        await context.progress(request.machine, step: "booting")
        return MachineDetails(machine: request.machine, state: .running, observedAt: Date(),
                              addresses: [MachineAddress(address: "127.0.0.9", scope: .public)])
    }

    func remove(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> RemovalResult {
        try await track(machine.machineId) { () async throws(DriverError) in try await removeNow(machine) }
    }

    private func removeNow(_ machine: MachineRef) async throws(DriverError) -> RemovalResult {
        record("remove")
        let existed = machines.withLock { $0.removeValue(forKey: machine.machineId) != nil }
        return RemovalResult(clusterId: machine.clusterId, machineIds: [machine.machineId], removedResources: [],
                             alreadyGone: !existed)
    }

    func start(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> MachineDetails {
        throw .unsupported(operation: "start", reason: "the recording driver cannot start machines")
    }

    func stop(_ machine: MachineRef, timeout: Duration?, context: DriverContext) async throws(DriverError) -> MachineDetails {
        record("stop")
        machines.withLock { $0[machine.machineId] = .stopped }
        return MachineDetails(machine: machine, state: .stopped, observedAt: Date())
    }

    func restart(_ machine: MachineRef, timeout: Duration?, context: DriverContext) async throws(DriverError) -> MachineDetails {
        record("restart")
        throw .providerUnavailable("the recording driver's provider is always down for restarts")
    }

    func kill(_ machine: MachineRef, context: DriverContext) async throws(DriverError) -> MachineDetails {
        throw .unsupported(operation: "kill", reason: "not in this test driver")
    }

    func states(of refs: [MachineRef], context: DriverContext) async throws(DriverError) -> [MachineRef: MachineStateObservation] {
        record("states")
        let known = machines.withLock { $0 }
        let now = Date()
        return Dictionary(uniqueKeysWithValues: refs.map { ref in
            (ref, MachineStateObservation(machine: ref, state: known[ref.machineId] ?? .notFound, observedAt: now))
        })
    }

    func images(_ query: CatalogImagesQuery, context: DriverContext) async throws(DriverError) -> [CatalogImage] { [] }
    func sizes(_ query: CatalogSizesQuery, context: DriverContext) async throws(DriverError) -> [CatalogSize] { [] }
    func locations(context: DriverContext) async throws(DriverError) -> [CatalogLocation] {
        [CatalogLocation(id: "memory", name: "In memory")]
    }
}
