import Foundation
import PazGateway
import PazGatewayServer
import PazHTTP
import PazLocalServers
import PazRedis
import PazSchemas
import PazSecrets
import PazStore
import Testing

/// Every operation of openapi.yaml (read from the document, so a new route is covered without
/// touching this file) attacked with every credential that must not work and every path trick,
/// against a victim tenant that owns a cluster with a secret option, a running operation and tokens.
@Suite("Gateway attacks", .timeLimit(.minutes(5)))
struct AttackTests {
    /// One operation as the document declares it.
    struct DocumentOperation: CustomStringConvertible {
        var id: String
        var method: String
        var path: String
        /// `admin`, `tenant` or `anyone`, from `security` (the operation's, else the document's).
        var access: String

        var description: String { "\(id) (\(method) \(path))" }
    }

    /// The operations of Services/Gateway/openapi.yaml (converted to JSON by python3 + PyYAML).
    static func documentOperations() async throws -> [DocumentOperation] {
        let document = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Services/Gateway/openapi.yaml").standardizedFileURL
        let converted = try await HelperCommand.result(
            "python3", ["-c", "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))", document.path])
        try #require(converted.status == 0, "python3 could not read the document: \(converted.output)")
        let data = Data(converted.output.utf8)
        let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let defaultSecurity = root["security"] as? [[String: Any]] ?? []
        let paths = try #require(root["paths"] as? [String: [String: Any]])
        var operations: [DocumentOperation] = []
        for (path, item) in paths {
            for (method, value) in item {
                guard ["get", "put", "post", "delete", "patch"].contains(method), let operation = value as? [String: Any] else { continue }
                let security = operation["security"] as? [[String: Any]] ?? defaultSecurity
                let schemes = Set(security.flatMap(\.keys))
                let access = schemes.isEmpty ? "anyone" : schemes == ["adminToken"] ? "admin" : "tenant"
                operations.append(DocumentOperation(
                    id: operation["operationId"] as! String, method: method.uppercased(), path: path, access: access))
            }
        }
        return operations.sorted { $0.id < $1.id }
    }

    @Test("the generated access table says what the document says, for every operation")
    func accessTableMatchesTheDocument() async throws {
        let operations = try await Self.documentOperations()
        #expect(operations.count == OperationAccess.byOperation.count)
        for operation in operations {
            let generated: String? = switch OperationAccess.byOperation[operation.id] {
            case .anyone: "anyone"
            case .admin: "admin"
            case .tenant: "tenant"
            case nil: nil
            }
            #expect(generated == operation.access, "\(operation)")
        }
    }

    @Test("every operation refuses missing, garbage, expired, revoked, foreign and wrong-kind tokens and path tricks, leaking nothing")
    func everyOperationRefusesEveryBadCaller() async throws {
        let gateway = try await GatewayHarness.start { $0.rateLimitPerSecond = 1_000_000 }
        defer { Task { await gateway.stop() } }
        let victim = try await gateway.makeTenant("victim")
        let intruder = try await gateway.makeTenant("intruder")
        let driver = try await gateway.announceDriver(
            "drv", options: GatewayTests.options,
            capabilities: [.create, .remove, .start, .stop, .restart, .kill, .probe, .catalog])
        let secret = "S3CRET-" + UUID().uuidString
        let clusterName = "victim-" + UUID().uuidString.prefix(8).lowercased()
        let created = try await gateway.request(
            .post, "/v1/clusters", token: victim.token,
            json: #"{"name":"\#(clusterName)","driver":"\#(driver)","count":2,"options":{"accel":"kvm","api-key":"\#(secret)"}}"#)
        try #require(created.status == 202, "\(String(decoding: created.body, as: UTF8.self))")
        let operationId = try #require(json(created)["id"] as? String)
        let cluster = json(try await gateway.request(.get, "/v1/clusters/\(clusterName)", token: victim.token))
        let clusterId = try #require(cluster["id"] as? String)
        let machines = try #require(cluster["machines"] as? [[String: Any]])
        let machineIds = machines.compactMap { $0["id"] as? String }
        let machineNames = machines.compactMap { $0["name"] as? String }
        try #require(machineIds.count == 2)
        let victimName = try #require(json(try await gateway.request(.get, "/v1/admin/tenants/\(victim.id)", token: gateway.adminToken))["name"] as? String)
        let tokens = json(try await gateway.request(.get, "/v1/admin/tenants/\(victim.id)/tokens", token: gateway.adminToken))
        let tokenId = try #require((tokens["tokens"] as? [[String: Any]])?.first?["id"] as? String)

        // A revoked token and an expired one of the victim.
        let revokedToken = json(try await gateway.request(
            .post, "/v1/admin/tenants/\(victim.id)/tokens", token: gateway.adminToken, json: #"{"name":"revoked"}"#))["token"] as! String
        let revokedId = try #require(json(try await gateway.request(.get, "/v1/admin/tenants/\(victim.id)/tokens", token: gateway.adminToken))["tokens"]
            .flatMap { $0 as? [[String: Any]] }?.first { $0["name"] as? String == "revoked" }?["id"] as? String)
        #expect(try await gateway.request(.delete, "/v1/admin/tenants/\(victim.id)/tokens/\(revokedId)", token: gateway.adminToken).status == 204)
        let expiredToken = APIToken.generate()
        let expired = TokenRecord(
            tenantId: try TenantID(victim.id), name: "expired", prefix: String(expiredToken.prefix(9)),
            createdAt: Date().addingTimeInterval(-7200), expiresAt: Date().addingTimeInterval(-60))
        let expiredJSON = String(decoding: try MessageCodec.encodeValue(expired), as: UTF8.self)
        _ = try await gateway.store.redis.hset(StoreKeys.tokens, fields: [APIToken.hash(expiredToken): .init(expiredJSON)])

        let values = [
            "tenant": victimName, "token": tokenId, "driver": driver.rawValue, "cluster": clusterName,
            "machine": machineNames[0], "operation": operationId,
        ]
        /// What the intruder must never see (unless it named it in its own request path).
        let victimSecrets = [secret, victim.token, victim.id, clusterId, operationId, clusterName, victimName, tokenId]
            + machineIds + machineNames
        var attempts = 0
        var refused = 0
        for operation in try await Self.documentOperations() where operation.access != "anyone" {
            var path = operation.path
            for (name, value) in values { path = path.replacingOccurrences(of: "{\(name)}", with: value) }
            let body: String? = ["POST", "PUT", "PATCH"].contains(operation.method) ? "{}" : nil
            let rightToken = operation.access == "admin" ? gateway.adminToken : victim.token
            let wrongKind = operation.access == "admin" ? victim.token : gateway.adminToken
            let namesVictimResource = ["{cluster}", "{machine}", "{operation}"].contains { operation.path.contains($0) }

            // (credential, path, statuses that count as refused)
            var cases: [(String, String?, String, Set<Int>)] = [
                ("no token", nil, path, [401]),
                ("garbage token", "pazt_garbage", path, [401]),
                ("expired token", expiredToken, path, [401]),
                ("revoked token", revokedToken, path, [401]),
                ("token of the wrong kind", wrongKind, path, [403]),
            ]
            if operation.access == "admin" {
                cases.append(("another tenant's token", intruder.token, path, [403]))
            } else if namesVictimResource {
                cases.append(("another tenant's token", intruder.token, path, [404]))
            }
            let rest = String(path.dropFirst("/v1/".count))
            let tricks: [(String, String)] = [
                ("//", "/" + path),
                ("empty segment", "/v1//" + rest),
                ("dot segment", "/v1/./" + rest),
                ("dot-dot segment", "/v1/x/../" + rest),
                ("%2F", "/v1%2F" + rest),
                ("%2f", "/v1%2f" + rest),
                ("trailing slash", path + "/"),
                ("NUL", path + "%00"),
            ]
            for (trick, trickPath) in tricks {
                cases.append(("\(trick) with no token", nil, trickPath, [400, 404]))
                cases.append(("\(trick) with the right token", rightToken, trickPath, [400, 404]))
                cases.append(("\(trick) with another tenant's token", intruder.token, trickPath, [400, 404]))
            }
            for (label, token, requestPath, expected) in cases {
                var headers: [String: String] = [:]
                if let token { headers["Authorization"] = "Bearer \(token)" }
                let response: RawHTTP.Response
                do {
                    response = try await RawHTTP.send(
                        port: gateway.port, method: operation.method, path: requestPath, headers: headers, body: body)
                } catch {
                    Issue.record("\(operation) \(label) \(requestPath): \(error)")
                    continue
                }
                attempts += 1
                let leaked = victimSecrets.filter { !requestPath.contains($0) && response.body.contains($0) }
                if expected.contains(response.status) && leaked.isEmpty { refused += 1 }
                #expect(expected.contains(response.status), "\(operation) \(label) \(requestPath): \(response.status) \(response.body.prefix(300))")
                #expect(leaked.isEmpty, "\(operation) \(label) leaked \(leaked)")
            }
            // The intruder's own view through the same operation never shows the victim's data.
            if operation.access == "tenant" && !namesVictimResource {
                let response = try await RawHTTP.send(
                    port: gateway.port, method: operation.method, path: path,
                    headers: ["Authorization": "Bearer \(intruder.token)"], body: body)
                attempts += 1
                let leaked = victimSecrets.filter { !path.contains($0) && response.body.contains($0) }
                // Catalog calls reach the test driver's queue, which nobody consumes: a documented 504.
                if leaked.isEmpty && response.status != 500 { refused += 1 }
                #expect(leaked.isEmpty, "\(operation) as the intruder leaked \(leaked)")
                #expect(response.status != 500, "\(operation) as the intruder: \(response.status) \(response.body.prefix(300))")
            }
        }
        print("attack suite: \(refused) refused of \(attempts) attempts")
        #expect(refused == attempts)
        // Nothing of the victim was lost.
        let after = json(try await gateway.request(.get, "/v1/clusters/\(clusterName)", token: victim.token))
        #expect(after["id"] as? String == clusterId)
        #expect((after["machines"] as? [[String: Any]])?.count == 2)
    }
}
