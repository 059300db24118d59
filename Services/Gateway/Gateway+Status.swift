import Foundation
import HTTPTypes
import PazGatewayAPI
import PazSchemas
import PazStore

/// `GET /v1/status`: from Redis only (`Store.statusSnapshot`); never asks a driver.
extension Gateway {
    func getStatus(_ input: Operations.GetStatus.Input) async throws -> Operations.GetStatus.Output {
        let tenant = try Principal.tenant()
        try Bounds.check(clusterFilter: input.query.cluster)
        let snapshot = try await stored { () async throws(StoreError) in try await store.statusSnapshot(tenant: tenant) }
        let now = Date()
        let staleAfter = configuration.staleAfterSeconds
        let machinesByCluster = Dictionary(grouping: snapshot.machines, by: \.clusterId)
        let clusters = snapshot.clusters.filter { cluster in
            guard let filter = input.query.cluster else { return true }
            return cluster.id.rawValue == filter || cluster.name.rawValue == filter
        }.map { cluster in
            let machines = (machinesByCluster[cluster.id] ?? []).map { machine in
                let state = snapshot.states[machine.id]
                return Components.Schemas.MachineStatus(
                    id: machine.id.rawValue, name: machine.name.rawValue,
                    state: ResourceMapper.apiState(state?.state ?? .unknown), observedAt: state?.observedAt,
                    ageSeconds: state.map { max(0, now.timeIntervalSince($0.observedAt)) },
                    stale: ResourceMapper.isStale(state, staleAfter: staleAfter, now: now))
            }
            return Components.Schemas.ClusterStatus(
                id: cluster.id.rawValue, name: cluster.name.rawValue, driver: cluster.driver.rawValue,
                states: ResourceMapper.counts(
                    (machinesByCluster[cluster.id] ?? []).map { snapshot.states[$0.id]?.state ?? .unknown }),
                machines: machines)
        }
        return .ok(.init(headers: .init(cacheControl: "no-store"), body: .json(.init(generatedAt: now, staleAfterSeconds: staleAfter, clusters: clusters))))
    }
}
