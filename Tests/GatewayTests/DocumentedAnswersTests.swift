import Foundation
import PazHTTP
import PazSchemas
import PazStore
import PazTestSupport
import Testing

/// Answers the document promises that no other suite covers: driver defaults, 409 for a probe of a
/// machine without an endpoint, 405 with `Allow`, a body holding null, an optional body left out.
@Suite("Gateway documented answers", .timeLimit(.minutes(3)))
struct DocumentedAnswersTests {
    @Test("driver defaults: stored per tenant, secrets sealed and never returned, applied under a create's options, forgotten on delete")
    func driverDefaults() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("defaults")
        let other = try await gateway.makeTenant("defaults-other")
        let driver = try await gateway.announceDriver("drv", options: GatewayTests.options)
        let path = "/v1/drivers/\(driver)/defaults"

        let empty = try await gateway.request(.get, path, token: tenant.token)
        #expect(empty.status == 200)
        #expect((json(empty)["options"] as? [String: Any])?.isEmpty == true)
        let secret = "KEY-" + UUID().uuidString
        let stored = try await gateway.request(
            .put, path, token: tenant.token, json: #"{"options":{"accel":"kvm","cpus":4,"api-key":"\#(secret)"}}"#)
        #expect(stored.status == 200, "\(String(decoding: stored.body, as: UTF8.self))")
        #expect(json(stored)["secretOptions"] as? [String] == ["api-key"])
        let read = try await gateway.request(.get, path, token: tenant.token)
        let readText = String(decoding: read.body, as: UTF8.self)
        #expect(!readText.contains(secret))
        #expect((json(read)["options"] as? [String: Any])?["accel"] as? String == "kvm")
        #expect((json(read)["options"] as? [String: Any])?["api-key"] == nil)
        // Another tenant sees none of them.
        #expect((json(try await gateway.request(.get, path, token: other.token))["options"] as? [String: Any])?.isEmpty == true)
        // Validated like create options.
        let unknown = try await gateway.request(.put, path, token: tenant.token, json: #"{"options":{"nope":"x"}}"#)
        #expect(unknown.status == 422)
        #expect(json(unknown)["field"] as? String == "options.nope")

        // A create without options gets the defaults (the required accel among them); its own value wins.
        let created = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token, json: #"{"name":"d","driver":"\#(driver)","count":1,"options":{"cpus":8}}"#)
        #expect(created.status == 202, "\(String(decoding: created.body, as: UTF8.self))")
        let command = try #require(try await gateway.drainCommands(driver: driver, count: 1).first)
        guard case .machineCreate(let create) = command.payload else {
            Issue.record("expected machine.create, got \(command.kind)")
            return
        }
        #expect(create.options["accel"] == .string("kvm"))
        #expect(create.options["cpus"] == .number(8))
        #expect(create.options["api-key"] == nil)  // secrets never travel in commands
        let machine = try #require(try await gateway.store.machines(tenant: try TenantID(tenant.id)).first)
        #expect(try await gateway.store.secrets(tenant: try TenantID(tenant.id), machine: machine.id) == ["api-key": secret])

        // Changed defaults apply to the very next create (the gateway keeps them by version).
        let changed = try await gateway.request(.put, path, token: tenant.token, json: #"{"options":{"accel":"tcg","cpus":2}}"#)
        #expect(changed.status == 200)
        let added = try await gateway.request(.post, "/v1/clusters/d/machines", token: tenant.token, json: #"{"name":"d-2"}"#)
        #expect(added.status == 202, "\(String(decoding: added.body, as: UTF8.self))")
        let second = try #require(try await gateway.drainCommands(driver: driver, count: 1).first)
        if case .machineCreate(let create) = second.payload {
            // The cluster's own cpus (8) wins over the new default; accel comes from the new defaults.
            #expect(create.options["accel"] == .string("tcg"))
            #expect(create.options["cpus"] == .number(8))
        } else {
            Issue.record("expected machine.create, got \(second.kind)")
        }

        #expect(try await gateway.request(.delete, path, token: tenant.token).status == 204)
        #expect((json(try await gateway.request(.get, path, token: tenant.token))["options"] as? [String: Any])?.isEmpty == true)
        // Without defaults the required accel is missing again.
        let bare = try await gateway.request(.post, "/v1/clusters", token: tenant.token, json: #"{"name":"e","driver":"\#(driver)"}"#)
        #expect(bare.status == 422, "\(String(decoding: bare.body, as: UTF8.self))")
        let missing = try await gateway.request(.get, "/v1/drivers/nodriver/defaults", token: tenant.token)
        #expect(missing.status == 404)
    }

    @Test("admin calls honour Idempotency-Key: the same tenant again, never a token's secret twice")
    func adminIdempotency() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let key = UUID().uuidString
        let name = "idem-\(UUID().uuidString.prefix(8).lowercased())"
        let body = #"{"name":"\#(name)","quota":{"machines":3}}"#
        let first = try await gateway.request(.post, "/v1/admin/tenants", token: gateway.adminToken, json: body, headers: ["Idempotency-Key": key])
        #expect(first.status == 201)
        let again = try await gateway.request(.post, "/v1/admin/tenants", token: gateway.adminToken, json: body, headers: ["Idempotency-Key": key])
        #expect(again.status == 201)
        #expect(again.headers["Idempotent-Replayed"] == "true")
        #expect(json(again)["id"] as? String == json(first)["id"] as? String)
        let other = try await gateway.request(
            .post, "/v1/admin/tenants", token: gateway.adminToken, json: #"{"name":"\#(name)-x"}"#, headers: ["Idempotency-Key": key])
        #expect(other.status == 422)
        #expect(json(other)["type"] as? String == "urn:paz:problem:idempotency-key-mismatch")

        let tokenKey = UUID().uuidString
        let token = try await gateway.request(
            .post, "/v1/admin/tenants/\(name)/tokens", token: gateway.adminToken, json: #"{"name":"t"}"#, headers: ["Idempotency-Key": tokenKey])
        #expect(token.status == 201)
        let tokenAgain = try await gateway.request(
            .post, "/v1/admin/tenants/\(name)/tokens", token: gateway.adminToken, json: #"{"name":"t"}"#, headers: ["Idempotency-Key": tokenKey])
        #expect(tokenAgain.status == 409)
        #expect(json(tokenAgain)["type"] as? String == "urn:paz:problem:idempotency-key-reused")
        let madeId = try #require(json(token)["id"] as? String)
        #expect((json(tokenAgain)["detail"] as? String)?.contains(madeId) == true)
        #expect(!String(decoding: tokenAgain.body, as: UTF8.self).contains(json(token)["token"] as! String))
        let listed = json(try await gateway.request(.get, "/v1/admin/tenants/\(name)/tokens", token: gateway.adminToken))
        #expect((listed["tokens"] as? [Any])?.count == 1)
    }

    @Test("probe of a machine with no endpoint is 409 naming why; no documented operation answers 501")
    func probeWithoutEndpoint() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("probe")
        let driver = try await gateway.announceDriver(
            "drv", options: GatewayTests.options, capabilities: [.create, .remove, .probe])
        let created = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token, json: #"{"name":"p","driver":"\#(driver)","options":{"accel":"kvm"}}"#)
        #expect(created.status == 202)
        let probe = try await gateway.request(.post, "/v1/machines/p-1/probe", token: tenant.token)
        #expect(probe.status == 409)
        #expect(json(probe)["type"] as? String == "urn:paz:problem:invalid-state")
        #expect((json(probe)["detail"] as? String)?.contains("no SSH endpoint") == true)
        for operation in try await AttackTests.documentOperations() where operation.access == "tenant" {
            var path = operation.path
            for (name, value) in ["driver": driver.rawValue, "cluster": "p", "machine": "p-1", "operation": "op_01M90FD2ES5ADDMKX0H404QVY3"] {
                path = path.replacingOccurrences(of: "{\(name)}", with: value)
            }
            let answer = try await RawHTTP.send(
                port: gateway.port, method: operation.method, path: path, headers: ["Authorization": "Bearer \(tenant.token)"],
                body: ["POST", "PUT"].contains(operation.method) ? "{}" : nil)
            #expect(answer.status != 501, "\(operation): \(answer.body.prefix(200))")
        }
        _ = try await gateway.drainCommands(driver: driver, count: 3, timeout: .seconds(2))
    }

    @Test("an undeclared method of a documented path is 405 with Allow; a body with null is 400; an optional body may be left out")
    func methodsNullsAndOptionalBodies() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("methods")
        let trace = try await RawHTTP.send(
            port: gateway.port, method: "TRACE", path: "/v1/status", headers: ["Authorization": "Bearer \(tenant.token)"])
        #expect(trace.status == 405)
        #expect(trace.headers["allow"] == "GET")
        let put = try await RawHTTP.send(port: gateway.port, method: "PUT", path: "/v1/clusters/web", headers: [:])
        #expect(put.status == 405)
        #expect(put.headers["allow"] == "DELETE, GET")

        let null = try await RawHTTP.send(
            port: gateway.port, method: "POST", path: "/v1/admin/tenants/\(tenant.id)/tokens",
            headers: ["Authorization": "Bearer \(gateway.adminToken)"], body: #"{"name":"n","expiresInSeconds":null}"#)
        #expect(null.status == 400, "\(null.body)")
        let quotedNull = try await RawHTTP.send(
            port: gateway.port, method: "POST", path: "/v1/admin/tenants/\(tenant.id)/tokens",
            headers: ["Authorization": "Bearer \(gateway.adminToken)"], body: #"{"name":"null \"null\""}"#)
        #expect(quotedNull.status == 201, "\(quotedNull.body)")

        // ssh-credentials takes an optional body: none at all reaches the handler (409: no endpoint yet).
        let driver = try await gateway.announceDriver("drv", options: GatewayTests.options)
        _ = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token, json: #"{"name":"m","driver":"\#(driver)","options":{"accel":"kvm"}}"#)
        let noBody = try await RawHTTP.send(
            port: gateway.port, method: "POST", path: "/v1/machines/m-1/ssh-credentials",
            headers: ["Authorization": "Bearer \(tenant.token)"])
        #expect(noBody.status == 409, "\(noBody.body)")
        let badKey = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token, json: #"{"name":"k","driver":"\#(driver)","options":{"accel":"kvm"}}"#,
            headers: ["Idempotency-Key": "has space"])
        #expect(badKey.status == 400)
        #expect(json(badKey)["field"] as? String == "Idempotency-Key")
        _ = try await gateway.drainCommands(driver: driver, count: 1, timeout: .seconds(2))
    }
}
