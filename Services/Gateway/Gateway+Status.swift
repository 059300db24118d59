import Foundation
import PazGatewayAPI
import PazSchemas
import PazStore

/// `GET /v1/status`: from Redis only, through the tenant's prepared ``StatusView``; never asks a
/// driver. Most requests are answered by ``StatusFastPath`` with the same document as bytes; this
/// handler answers the others (an `Accept` or query the fast path leaves to the generated server).
extension Gateway {
    func getStatus(_ input: Operations.GetStatus.Input) async throws -> Operations.GetStatus.Output {
        let document = try await statusDocument(tenant: try Principal.tenant(), cluster: input.query.cluster)
        let etag = document.etag
        if ifNoneMatch(input.headers.ifNoneMatch, matches: etag) {
            return .notModified(.init(headers: .init(cacheControl: StatusDocument.cacheControl, eTag: etag)))
        }
        return .ok(.init(
            headers: .init(cacheControl: StatusDocument.cacheControl, eTag: etag), body: .json(document.report)))
    }

    /// The tenant's status as of now, all clusters or the one named `cluster` (400 for a malformed
    /// name, 404 for an unknown one).
    func statusDocument(tenant: TenantID, cluster: String?) async throws(GatewayProblem) -> StatusDocument {
        try Bounds.check(clusterFilter: cluster)
        let view = try await stored { () async throws(StoreError) in try await statusViews.view(tenant: tenant, store: store) }
        guard let clusters = view.clusters(matching: cluster) else { throw GatewayProblem.notFound("cluster \(cluster ?? "")") }
        return StatusDocument(view: view, clusters: clusters, now: Date(), staleAfterSeconds: configuration.staleAfterSeconds)
    }
}
