import Foundation
import Logging
import PazGateway
import PazHTTP
import PazLocalServers
import PazRedis
import PazSchemas
import PazStore
import PazTestSupport
import Testing

/// Bounded input: body size, integer ranges, string and collection sizes, per-tenant rate, event
/// streams; quota and name claims that hold under concurrency; a tenant removed while it creates.
@Suite("Gateway limits", .timeLimit(.minutes(3)))
struct LimitsTests {
    @Test("a body over the limit is 413 and the gateway keeps serving")
    func bodyLimit() async throws {
        let gateway = try await GatewayHarness.start { $0.maxBodyBytes = 4_096 }
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("body")
        let big = #"{"name":"big","driver":"x","size":""# + String(repeating: "a", count: 100_000) + #""}"#
        let answer = try await RawHTTP.send(
            port: gateway.port, method: "POST", path: "/v1/clusters", headers: ["Authorization": "Bearer \(tenant.token)"], body: big)
        #expect(answer.status == 413, "\(answer.body)")
        #expect(answer.body.contains("body-too-large"))
        #expect(try await gateway.request(.get, "/v1/clusters", token: tenant.token).status == 200)
    }

    @Test("integers out of the documented range, over-long strings and too many options are 422 naming the field; nothing crashes")
    func ranges() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("ranges", quota: 10)
        let driver = try await gateway.announceDriver("drv", options: GatewayTests.options + [
            CreateOptionSpec(name: "port", type: .integer, description: "a port", minimum: 1, maximum: 65_535),
        ])
        let manyOptions = (0..<65).map { #""o\#($0)":"v""# }.joined(separator: ",")
        let cases: [(String, String, String, String)] = [
            ("/v1/clusters", #"{"name":"a","driver":"\#(driver)","count":9223372036854775807,"options":{"accel":"kvm"}}"#, "count", "422"),
            ("/v1/clusters", #"{"name":"a","driver":"\#(driver)","count":10001,"options":{"accel":"kvm"}}"#, "count", "422"),
            ("/v1/clusters", #"{"name":"a","driver":"\#(driver)","count":0,"options":{"accel":"kvm"}}"#, "count", "422"),
            ("/v1/clusters", #"{"name":"a","driver":"\#(driver)","count":-5,"options":{"accel":"kvm"}}"#, "count", "422"),
            ("/v1/clusters", #"{"name":"a","driver":"\#(driver)","size":"\#(String(repeating: "s", count: 300))","options":{"accel":"kvm"}}"#, "size", "422"),
            ("/v1/clusters", #"{"name":"a","driver":"\#(driver)","options":{\#(manyOptions)}}"#, "options", "422"),
            ("/v1/clusters", #"{"name":"a","driver":"\#(driver)","options":{"accel":"kvm","port":70000}}"#, "options.port", "422"),
            ("/v1/clusters", #"{"name":"a","driver":"\#(driver)","options":{"accel":"kvm","port":-1}}"#, "options.port", "422"),
            ("/v1/admin/tenants", #"{"name":"q","quota":{"machines":9223372036854775807}}"#, "quota.machines", "422"),
            ("/v1/admin/tenants", #"{"name":"q","quota":{"machines":-1}}"#, "quota.machines", "422"),
        ]
        for (path, body, field, status) in cases {
            let token = path.hasPrefix("/v1/admin") ? gateway.adminToken : tenant.token
            let answer = try await gateway.request(.post, path, token: token, json: body)
            #expect("\(answer.status)" == status, "\(body.prefix(120)): \(String(decoding: answer.body, as: UTF8.self))")
            #expect(json(answer)["field"] as? String == field, "\(body.prefix(120))")
        }
        let quota = try await gateway.request(
            .put, "/v1/admin/tenants/\(tenant.id)/quota", token: gateway.adminToken, json: #"{"machines":9223372036854775807}"#)
        #expect(quota.status == 422)
        let token = try await gateway.request(
            .post, "/v1/admin/tenants/\(tenant.id)/tokens", token: gateway.adminToken, json: #"{"name":"t","expiresInSeconds":5}"#)
        #expect(token.status == 422)
        #expect(json(token)["field"] as? String == "expiresInSeconds")
        // The gateway is alive and nothing was recorded.
        let clusters = try await gateway.request(.get, "/v1/clusters", token: tenant.token)
        #expect(clusters.status == 200)
        #expect((json(clusters)["clusters"] as? [Any])?.isEmpty == true)
    }

    @Test("past the per-tenant rate the answer is 429 with Retry-After; other tenants are not slowed")
    func rateLimit() async throws {
        let gateway = try await GatewayHarness.start { $0.rateLimitPerSecond = 5 }
        defer { Task { await gateway.stop() } }
        let busy = try await gateway.makeTenant("busy")
        let calm = try await gateway.makeTenant("calm")
        let statuses = try await withThrowingTaskGroup(of: (Int, String?).self) { group in
            for _ in 0..<30 {
                group.addTask {
                    let answer = try await gateway.request(.get, "/v1/clusters", token: busy.token)
                    return (answer.status, answer.headers["Retry-After"])
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let limited = statuses.filter { $0.0 == 429 }
        #expect(!limited.isEmpty)
        #expect(limited.allSatisfy { $0.1 == "1" })
        #expect(statuses.filter { $0.0 == 200 }.count >= 5)
        #expect(try await gateway.request(.get, "/v1/clusters", token: calm.token).status == 200)
        try await Task.sleep(for: .milliseconds(1_100))
        #expect(try await gateway.request(.get, "/v1/clusters", token: busy.token).status == 200)
    }

    @Test("20 concurrent creates at the quota edge never exceed it and never make two machines of one name")
    func quotaAndNamesUnderConcurrency() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("edge", quota: 10)
        let driver = try await gateway.announceDriver("drv", options: GatewayTests.options)
        let accepted = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<20 {
                group.addTask {
                    try await gateway.request(
                        .post, "/v1/clusters", token: tenant.token,
                        json: #"{"name":"edge-\#(index)","driver":"\#(driver)","count":1,"options":{"accel":"kvm"}}"#).status
                }
            }
            return try await group.reduce(into: 0) { $0 += $1 == 202 ? 1 : 0 }
        }
        #expect(accepted == 10)
        let store = gateway.store
        let tenantId = try TenantID(tenant.id)
        #expect(try await store.machines(tenant: tenantId).count == 10)

        let other = try await gateway.makeTenant("dups", quota: 100)
        let sameName = try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<20 {
                group.addTask {
                    try await gateway.request(
                        .post, "/v1/clusters", token: other.token,
                        json: #"{"name":"dup-\#(index)","driver":"\#(driver)","machines":[{"name":"dup"}],"options":{"accel":"kvm"}}"#).status
                }
            }
            return try await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(sameName.filter { $0 == 202 }.count == 1)
        #expect(sameName.filter { $0 == 409 }.count == 19)
        let names = try await store.machines(tenant: try TenantID(other.id)).map(\.name.rawValue)
        #expect(names == ["dup"])
        _ = try await gateway.drainCommands(driver: driver, count: 11)
    }

    @Test("a tenant removed while it creates leaves nothing behind")
    func tenantRemovedWhileCreating() async throws {
        let redis = try await TestRedis.shared()
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let driver = try await gateway.announceDriver("drv", options: GatewayTests.options)
        for round in 0..<5 {
            let tenant = try await gateway.makeTenant("doomed-\(round)", quota: 100)
            let results = try await withThrowingTaskGroup(of: (String, Int).self) { group in
                for index in 0..<10 {
                    group.addTask {
                        ("create", try await gateway.request(
                            .post, "/v1/clusters", token: tenant.token,
                            json: #"{"name":"c-\#(index)","driver":"\#(driver)","count":1,"options":{"accel":"kvm"}}"#,
                            headers: ["Idempotency-Key": "k-\(index)"]).status)
                    }
                }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(Int.random(in: 0...20)))
                    return ("delete", try await gateway.request(.delete, "/v1/admin/tenants/\(tenant.id)", token: gateway.adminToken).status)
                }
                return try await group.reduce(into: [(String, Int)]()) { $0.append($1) }
            }
            let deleted = results.first { $0.0 == "delete" }?.1
            let created = results.filter { $0.0 == "create" && $0.1 == 202 }.count
            if deleted == 204 {
                #expect(created == 0, "round \(round): the tenant was removed but \(created) creates were accepted")
                try await Task.sleep(for: .milliseconds(2_100))  // the rate-limit window key expires
                let left = try await RedisContents.all(port: redis.port).filter { $0.key.hasPrefix("paz:t:\(tenant.id):") }
                #expect(left.isEmpty, "round \(round): \(left.map(\.key))")
                #expect(try await gateway.request(.get, "/v1/clusters", token: tenant.token).status == 401)
            } else {
                #expect(deleted == 409, "round \(round): \(results)")
                #expect(created > 0)
            }
        }
        _ = try await gateway.drainCommands(driver: driver, count: 50, timeout: .seconds(2))
    }

    @Test("a tenant holds at most the configured number of operation event streams")
    func eventStreamsBounded() async throws {
        let gateway = try await GatewayHarness.start { $0.maxEventStreamsPerTenant = 2 }
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("streams")
        let driver = try await gateway.announceDriver("drv", options: GatewayTests.options)
        let created = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token, json: #"{"name":"s","driver":"\#(driver)","options":{"accel":"kvm"}}"#)
        let operation = try #require(json(created)["id"] as? String)
        let path = "/v1/operations/\(operation)/events"
        let first = try await RawHTTP.open(port: gateway.port, path: path, token: tenant.token)
        let second = try await RawHTTP.open(port: gateway.port, path: path, token: tenant.token)
        #expect(first.status == 200 && second.status == 200)
        let third = try await gateway.request(.get, path, token: tenant.token)
        #expect(third.status == 429)
        #expect(json(third)["type"] as? String == "urn:paz:problem:limit-reached")
        RawHTTP.close(first.descriptor)
        // The slot comes back once the server notices the closed stream (its next keep-alive write).
        #expect(await eventually(timeout: .seconds(20)) {
            guard let again = try? await RawHTTP.open(port: gateway.port, path: path, token: tenant.token) else { return false }
            RawHTTP.close(again.descriptor)
            return again.status == 200
        })
        RawHTTP.close(second.descriptor)
        _ = try await gateway.drainCommands(driver: driver, count: 1)
    }
}
