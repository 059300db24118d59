import Foundation
import PazSchemas
import PazStore

/// One tenant's clusters, machines and states at one status version, prepared once so that each
/// `GET /v1/status` only adds what moves with time (`generatedAt`, `ageSeconds`, `stale`).
///
/// The JSON of everything else is built here, once per version: names and ids escaped, state
/// counts written, timestamps formatted. ``StatusDocument`` writes answers from it.
struct StatusView: Sendable {
    /// A machine: its fixed JSON members and when its state was observed.
    struct Machine: Sendable {
        let id: MachineID
        let name: ResourceName
        let state: MachineState
        let observedAt: Date?
        /// `{"id":…,"name":…,"state":…[,"observedAt":…]` (object left open).
        let jsonPrefix: [UInt8]
    }

    /// A cluster: its fixed JSON members and its machines, oldest first.
    struct Cluster: Sendable {
        let id: ClusterID
        let name: ResourceName
        let driver: ResourceName
        let machines: [Machine]
        /// `{"id":…,"name":…,"driver":…,"states":{…},"machines":[` (array left open).
        let jsonPrefix: [UInt8]
    }

    /// The status version the data is at least as new as (the cache key).
    let version: String
    /// Oldest first.
    let clusters: [Cluster]

    init(_ snapshot: StatusSnapshot, version: String) {
        self.version = version
        let machinesByCluster = Dictionary(grouping: snapshot.machines, by: \.clusterId)
        clusters = snapshot.clusters.map { cluster in
            let machines = (machinesByCluster[cluster.id] ?? []).map { record in
                let state = snapshot.states[record.id]
                return Machine(
                    id: record.id, name: record.name, state: state?.state ?? .unknown, observedAt: state?.observedAt,
                    jsonPrefix: Self.machinePrefix(record, state: state))
            }
            return Cluster(
                id: cluster.id, name: cluster.name, driver: cluster.driver, machines: machines,
                jsonPrefix: Self.clusterPrefix(cluster, states: machines.map(\.state)))
        }
    }

    /// The clusters an answer shows: all of them, or the one named by `filter` (id or name); nil
    /// when `filter` names none.
    func clusters(matching filter: String?) -> ArraySlice<Cluster>? {
        guard let filter else { return clusters[...] }
        guard let index = clusters.firstIndex(where: { $0.id.rawValue == filter || $0.name.rawValue == filter }) else {
            return nil
        }
        return clusters[index...index]
    }

    // MARK: - Fixed JSON

    /// `{"id":…,"name":…` (object left open): how every prepared object starts.
    private static func object(id: String, name: String) -> JSONBytes {
        var json = JSONBytes()
        json.raw("{\"id\":")
        json.string(id)
        json.raw(",\"name\":")
        json.string(name)
        return json
    }

    private static func machinePrefix(_ record: MachineRecord, state: StateRecord?) -> [UInt8] {
        var json = object(id: record.id.rawValue, name: record.name.rawValue)
        json.raw(",\"state\":")
        json.string((state?.state ?? .unknown).rawValue)
        if let observedAt = state?.observedAt {
            json.raw(",\"observedAt\":")
            json.string(Timestamp.formatSeconds(observedAt))
        }
        return json.bytes
    }

    private static func clusterPrefix(_ cluster: ClusterRecord, states: [MachineState]) -> [UInt8] {
        var json = object(id: cluster.id.rawValue, name: cluster.name.rawValue)
        json.raw(",\"driver\":")
        json.string(cluster.driver.rawValue)
        json.raw(",\"states\":{")
        for (index, state) in MachineState.allCases.enumerated() {
            if index > 0 { json.raw(",") }
            json.string(countKey(state))
            json.raw(":")
            json.integer(states.count { $0 == state })
        }
        json.raw("},\"machines\":[")
        return json.bytes
    }

    /// The member of `StateCounts` (openapi.yaml) that counts `state`.
    static func countKey(_ state: MachineState) -> String {
        switch state {
        case .notFound: "notFound"
        default: state.rawValue
        }
    }
}
