import Foundation
import Logging
import HTTPTypes
import PazGatewayAPI
import PazSchemas
import PazSecrets
import PazStore

/// `/v1/admin/*`: tenants, quotas and tokens (admin token only; synchronous).
extension Gateway {
    func listTenants(_ input: Operations.ListTenants.Input) async throws -> Operations.ListTenants.Output {
        try Principal.requireAdmin()
        let tenants = try await stored { () async throws(StoreError) in try await store.tenants() }
        var items: [Components.Schemas.Tenant] = []
        for tenant in tenants { items.append(try await apiTenant(tenant)) }
        return .ok(.init(body: .json(.init(tenants: items))))
    }

    func createTenant(_ input: Operations.CreateTenant.Input) async throws -> Operations.CreateTenant.Output {
        try Principal.requireAdmin()
        guard case .json(let body) = input.body else { throw GatewayProblem.validation("JSON body required", field: "body") }
        let name: ResourceName
        do {
            name = try ResourceName(body.name, field: "name")
        } catch {
            throw error.problem
        }
        let quota = try Bounds.check(body.quota?.machines ?? 50, Bounds.quota, field: "quota.machines")
        let record = TenantRecord(name: name, machineQuota: quota)
        let key = input.headers.idempotencyKey
        if let first = try await claimAdminKey(key, request: Self.requestText("POST", "/v1/admin/tenants", body, key: key), resource: record.id.rawValue) {
            guard let tenant = try await stored({ () async throws(StoreError) in try await store.tenants() })
                .first(where: { $0.id.rawValue == first.resourceId })
            else {
                throw GatewayProblem(.conflict, "idempotency-key-in-use", "Idempotency-Key in use",
                                     detail: "the first request with this key is still being processed or its tenant was deleted; use a new key", retryAfter: 1)
            }
            return .created(.init(
                headers: .init(location: "/v1/admin/tenants/\(tenant.id.rawValue)", idempotentReplayed: true),
                body: .json(try await apiTenant(tenant))))
        }
        do {
            try await store.createTenant(record)
        } catch {
            if let key { try? await store.releaseIdempotencyKey(key, in: .admin) }
            throw GatewayProblem.from(error)
        }
        logger.info("tenant created", metadata: ["tenant": "\(record.id)"])
        return .created(.init(headers: .init(location: "/v1/admin/tenants/\(record.id.rawValue)"), body: .json(try await apiTenant(record))))
    }

    func getTenant(_ input: Operations.GetTenant.Input) async throws -> Operations.GetTenant.Output {
        try Principal.requireAdmin()
        return .ok(.init(body: .json(try await apiTenant(try await findTenant(input.path.tenant)))))
    }

    func deleteTenant(_ input: Operations.DeleteTenant.Input) async throws -> Operations.DeleteTenant.Output {
        try Principal.requireAdmin()
        let tenant = try await findTenant(input.path.tenant)
        let clusters = try await stored { () async throws(StoreError) in try await store.clusters(tenant: tenant.id) }
        guard clusters.isEmpty else {
            throw GatewayProblem(.conflict, "invalid-state", "Tenant owns clusters",
                                 detail: "tenant \(tenant.name) owns \(clusters.count) cluster(s); delete them first")
        }
        try await stored { () async throws(StoreError) in try await store.deleteTenant(tenant) }
        return .noContent(.init())
    }

    func setTenantQuota(_ input: Operations.SetTenantQuota.Input) async throws -> Operations.SetTenantQuota.Output {
        try Principal.requireAdmin()
        guard case .json(let body) = input.body else { throw GatewayProblem.validation("JSON body required", field: "body") }
        _ = try Bounds.check(body.machines, Bounds.quota, field: "machines")
        var tenant = try await findTenant(input.path.tenant)
        tenant.machineQuota = body.machines
        let updated = tenant
        try await stored { () async throws(StoreError) in try await store.saveTenant(updated) }
        return .ok(.init(body: .json(try await apiTenant(updated))))
    }

    func listTenantTokens(_ input: Operations.ListTenantTokens.Input) async throws -> Operations.ListTenantTokens.Output {
        try Principal.requireAdmin()
        let tenant = try await findTenant(input.path.tenant)
        let tokens = try await stored { () async throws(StoreError) in try await store.tokens(of: tenant.id) }
        let items = tokens.map { token in
            Components.Schemas.Token(
                id: token.record.id, tenant: tenant.name.rawValue, name: token.record.name ?? "",
                prefix: token.record.prefix ?? "pazt_????", createdAt: token.record.createdAt,
                expiresAt: token.record.expiresAt)
        }
        return .ok(.init(body: .json(.init(tokens: items))))
    }

    func createTenantToken(_ input: Operations.CreateTenantToken.Input) async throws -> Operations.CreateTenantToken.Output {
        try Principal.requireAdmin()
        guard case .json(let body) = input.body else { throw GatewayProblem.validation("JSON body required", field: "body") }
        try Bounds.check(text: body.name, 1...100, field: "name")
        let lifetime = try body.expiresInSeconds.map { try Bounds.check($0, 60...31_622_400, field: "expiresInSeconds") }
        let tenant = try await findTenant(input.path.tenant)
        let key = input.headers.idempotencyKey
        let tokenId = "tok_" + ULID.make()
        let request = Self.requestText("POST", "/v1/admin/tenants/\(tenant.id.rawValue)/tokens", body, key: key)
        if let first = try await claimAdminKey(key, request: request, resource: tokenId) {
            throw GatewayProblem(.conflict, "idempotency-key-reused", "Idempotency-Key reused",
                                 detail: "this key already made token \(first.resourceId); a token's secret is shown only once: revoke it or use a new key")
        }
        let created: (token: String, record: TokenRecord)
        do {
            created = try await store.createToken(for: tenant.id, id: tokenId, name: body.name, expiresIn: lifetime.map { .seconds($0) })
        } catch {
            if let key { try? await store.releaseIdempotencyKey(key, in: .admin) }
            throw GatewayProblem.from(error)
        }
        logger.info("token created", metadata: ["tenant": "\(tenant.id)", "token": "\(created.record.id)"])
        let answer = Components.Schemas.TokenCreated(
            id: created.record.id, tenant: tenant.name.rawValue, name: body.name,
            prefix: String(created.token.prefix(9)), createdAt: created.record.createdAt,
            expiresAt: created.record.expiresAt, token: created.token)
        return .created(.init(
            headers: .init(location: "/v1/admin/tenants/\(tenant.id.rawValue)/tokens/\(created.record.id)", cacheControl: "no-store"),
            body: .json(answer)))
    }

    func revokeTenantToken(_ input: Operations.RevokeTenantToken.Input) async throws -> Operations.RevokeTenantToken.Output {
        try Principal.requireAdmin()
        let tenant = try await findTenant(input.path.tenant)
        let revoked = try await stored { () async throws(StoreError) in
            try await store.revokeToken(input.path.token, tenant: tenant.id)
        }
        guard revoked else { throw GatewayProblem.notFound("token \(input.path.token)") }
        return .noContent(.init())
    }

    /// Claims an admin call's Idempotency-Key for `resource`; the first call's record when the key was
    /// used before for the same request, 422 when for another one, nil for a first call (or no key).
    private func claimAdminKey(_ key: String?, request: String, resource: String) async throws -> AdminIdempotencyRecord? {
        guard let key else { return nil }
        let hash = APIToken.hash(request)
        guard let first = try await stored({ () async throws(StoreError) in
            try await store.claimIdempotencyKey(key, record: AdminIdempotencyRecord(requestHash: hash, resourceId: resource), in: .admin)
        }) else { return nil }
        guard first.requestHash == hash else {
            throw GatewayProblem.idempotencyKeyMismatch
        }
        return first
    }

    /// A tenant by id or name.
    private func findTenant(_ idOrName: String) async throws -> TenantRecord {
        let tenants = try await stored { () async throws(StoreError) in try await store.tenants() }
        guard let tenant = tenants.first(where: { $0.id.rawValue == idOrName || $0.name.rawValue == idOrName }) else {
            throw GatewayProblem.notFound("tenant \(idOrName)")
        }
        return tenant
    }

    private func apiTenant(_ tenant: TenantRecord) async throws -> Components.Schemas.Tenant {
        let machines = try await stored { () async throws(StoreError) in try await store.machines(tenant: tenant.id) }
        return Components.Schemas.Tenant(
            id: tenant.id.rawValue, name: tenant.name.rawValue, quota: .init(machines: tenant.machineQuota),
            usage: .init(machines: machines.count), createdAt: tenant.createdAt)
    }
}
