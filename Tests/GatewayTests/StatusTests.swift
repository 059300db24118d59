import Foundation
import PazGatewayAPI
import PazHTTP
import PazRedis
import PazSchemas
import PazStore
import PazTestSupport
import Testing

@testable import PazGateway

/// `GET /v1/status` served from the tenant's prepared view: the same answer on the fast path and the
/// generated one, never older than Redis, with a weak ETag for `If-None-Match`.
@Suite("Gateway status", .timeLimit(.minutes(3)))
struct StatusTests {
    /// A tenant with a 3-machine cluster (states: running, stopped 2 minutes ago, starting).
    private static func tenantWithCluster(_ gateway: GatewayHarness) async throws
        -> (token: String, tenant: TenantID, machines: [MachineRecord])
    {
        let tenant = try await gateway.makeTenant("status")
        let driver = try await gateway.announceDriver("drv", options: GatewayTests.options)
        let created = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token,
            json: #"{"name":"web","driver":"\#(driver)","count":3,"options":{"accel":"kvm"}}"#)
        try #require(created.status == 202)
        let tenantId = try TenantID(tenant.id)
        let machines = try await gateway.store.machines(tenant: tenantId)
        try #require(machines.count == 3)
        _ = try await gateway.store.writeState(
            StateRecord(state: .running, observedAt: Date(), source: .poll), machine: machines[0].id, tenant: tenantId)
        _ = try await gateway.store.writeState(
            StateRecord(state: .stopped, observedAt: Date().addingTimeInterval(5), source: .poll),
            machine: machines[1].id, tenant: tenantId)
        return (tenant.token, tenantId, machines)
    }

    private static func report(_ response: PazHTTP.HTTPResponse) throws -> Components.Schemas.StatusReport {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try decoder.decode(Components.Schemas.StatusReport.self, from: response.body)
    }

    @Test("the prepared bytes and the generated server give the same report")
    func bothPathsAgree() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let (token, _, machines) = try await Self.tenantWithCluster(gateway)

        let fast = try await gateway.request(.get, "/v1/status", token: token)
        // A q-value is left to the generated server (and its Accept negotiation).
        let generated = try await gateway.request(.get, "/v1/status", token: token, headers: ["Accept": "application/json;q=1"])
        #expect(fast.status == 200 && generated.status == 200)
        #expect(fast.headers["Content-Type"]?.hasPrefix("application/json") == true)
        #expect(fast.headers["Cache-Control"] == "no-cache" && generated.headers["Cache-Control"] == "no-cache")
        #expect(fast.headers["ETag"] != nil && fast.headers["ETag"] == generated.headers["ETag"])
        let a = try Self.report(fast)
        let b = try Self.report(generated)
        #expect(a.staleAfterSeconds == b.staleAfterSeconds)
        #expect(abs(a.generatedAt.timeIntervalSince(b.generatedAt)) < 5)
        #expect(a.clusters.count == 1 && b.clusters.count == 1)
        let (x, y) = (try #require(a.clusters.first), try #require(b.clusters.first))
        #expect(x.id == y.id && x.name == y.name && x.driver == y.driver && x.states == y.states)
        #expect(x.states.running == 1 && x.states.stopped == 1 && x.states.starting == 1)
        #expect(x.machines.map(\.id) == machines.map(\.id.rawValue))
        #expect(x.machines.map(\.id) == y.machines.map(\.id))
        for (m, n) in zip(x.machines, y.machines) {
            #expect(m.name == n.name && m.state == n.state && m.stale == n.stale)
            #expect(m.observedAt.map { Int($0.timeIntervalSince1970) } == n.observedAt.map { Int($0.timeIntervalSince1970) })
            #expect(abs((m.ageSeconds ?? 0) - (n.ageSeconds ?? 0)) < 5)
        }
    }

    @Test("every write is seen by the next request: states, new and removed machines")
    func neverOlderThanRedis() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let (token, tenant, machines) = try await Self.tenantWithCluster(gateway)
        let states: [MachineState] = [.stopping, .stopped, .starting, .running, .error]
        for (index, state) in states.enumerated() {
            _ = try await gateway.store.writeState(
                StateRecord(state: state, observedAt: Date().addingTimeInterval(10 + Double(index)), source: .poll),
                machine: machines[2].id, tenant: tenant)
            let report = try Self.report(try await gateway.request(.get, "/v1/status", token: token))
            let machine = report.clusters.first?.machines.first { $0.id == machines[2].id.rawValue }
            #expect(machine?.state.rawValue == state.rawValue)
        }
        try await gateway.store.removeMachine(machines[0], tenant: tenant)
        let afterRemoval = try Self.report(try await gateway.request(.get, "/v1/status", token: token))
        #expect(afterRemoval.clusters.first?.machines.map(\.id) == machines.dropFirst().map(\.id.rawValue))
    }

    @Test("If-None-Match: 304 while nothing changed, 200 with a new ETag after a write, on both paths")
    func conditionalRequests() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let (token, tenant, machines) = try await Self.tenantWithCluster(gateway)
        let first = try await gateway.request(.get, "/v1/status", token: token)
        let etag = try #require(first.headers["ETag"])
        #expect(etag.hasPrefix("W/\""))

        let same = try await gateway.request(.get, "/v1/status", token: token, headers: ["If-None-Match": etag])
        #expect(same.status == 304 && same.body.isEmpty && same.headers["ETag"] == etag)
        let generated = try await gateway.request(
            .get, "/v1/status", token: token, headers: ["If-None-Match": etag, "Accept": "application/json;q=0.9"])
        #expect(generated.status == 304 && generated.headers["ETag"] == etag)
        let anyTag = try await gateway.request(.get, "/v1/status", token: token, headers: ["If-None-Match": "*"])
        #expect(anyTag.status == 304)
        let other = try await gateway.request(.get, "/v1/status", token: token, headers: ["If-None-Match": #"W/"nope""#])
        #expect(other.status == 200)
        // Another cluster filter is another answer.
        let filtered = try await gateway.request(.get, "/v1/status?cluster=web", token: token, headers: ["If-None-Match": etag])
        #expect(filtered.status == 304, "one cluster of one: the same clusters shown")

        _ = try await gateway.store.writeState(
            StateRecord(state: .error, observedAt: Date().addingTimeInterval(60), source: .poll),
            machine: machines[0].id, tenant: tenant)
        let changed = try await gateway.request(.get, "/v1/status", token: token, headers: ["If-None-Match": etag])
        #expect(changed.status == 200)
        #expect(changed.headers["ETag"] != nil && changed.headers["ETag"] != etag)
    }

    @Test("a machine turning stale changes the ETag without any write")
    func staleness() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let (token, tenant, machines) = try await Self.tenantWithCluster(gateway)
        // Observed just inside the 30 s threshold: stale a moment later.
        _ = try await gateway.store.redis.command(["HDEL", .init(StoreKeys.states(tenant)), .init(machines[0].id.rawValue)])
        _ = try await gateway.store.writeState(
            StateRecord(state: .running, observedAt: Date().addingTimeInterval(-29), source: .poll),
            machine: machines[0].id, tenant: tenant)
        let fresh = try await gateway.request(.get, "/v1/status", token: token)
        #expect(try Self.report(fresh).clusters.first?.machines.first?.stale == false)
        try await Task.sleep(for: .seconds(1.5))
        let later = try await gateway.request(.get, "/v1/status", token: token, headers: ["If-None-Match": fresh.headers["ETag"] ?? ""])
        #expect(later.status == 200)
        #expect(try Self.report(later).clusters.first?.machines.first?.stale == true)
    }

    @Test("cluster filter: by name or id; unknown 404, malformed 400")
    func clusterFilter() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let (token, _, machines) = try await Self.tenantWithCluster(gateway)
        let byName = try Self.report(try await gateway.request(.get, "/v1/status?cluster=web", token: token))
        #expect(byName.clusters.map(\.name) == ["web"])
        let id = machines[0].clusterId.rawValue
        let byId = try Self.report(try await gateway.request(.get, "/v1/status?cluster=\(id)", token: token))
        #expect(byId.clusters.map(\.id) == [id])
        let unknown = try await gateway.request(.get, "/v1/status?cluster=nope", token: token)
        #expect(unknown.status == 404)
        #expect(json(unknown)["type"] as? String == "urn:paz:problem:not-found")
        #expect(try await gateway.request(.get, "/v1/status?cluster=Bad_Name", token: token).status == 400)
        #expect(try await gateway.request(.get, "/v1/status?cluster=a%20b", token: token).status == 400)
        #expect(try await gateway.request(.get, "/v1/status", token: nil).status == 401)
    }

    @Test("JSON scalars: escaped strings, integers, seconds with milliseconds; whole-second timestamps")
    func jsonScalars() {
        var json = JSONBytes()
        json.string("a\"b\\c\u{01}é")
        json.raw(",")
        json.integer(-42)
        json.raw(",")
        json.seconds(12.3456)
        json.raw(",")
        json.seconds(-3)
        json.raw(",")
        json.bool(true)
        #expect(String(decoding: json.bytes, as: UTF8.self) == #""a\"b\\c\u0001é",-42,12.346,0.000,true"#)
        #expect(Timestamp.formatSeconds(Date(timeIntervalSince1970: 1_764_883_805.999)) == "2025-12-04T21:30:05Z")
        #expect(Timestamp.formatSeconds(Date(timeIntervalSince1970: -1)) == "1969-12-31T23:59:59Z")
    }

    @Test("If-None-Match lists, weak and strong forms")
    func etagMatching() {
        #expect(ifNoneMatch(#"W/"a.1""#, matches: #"W/"a.1""#))
        #expect(ifNoneMatch(#""x", W/"a.1""#, matches: #"W/"a.1""#))
        #expect(ifNoneMatch(#""a.1""#, matches: #"W/"a.1""#))
        #expect(ifNoneMatch("*", matches: #"W/"a.1""#))
        #expect(!ifNoneMatch(#"W/"a.2""#, matches: #"W/"a.1""#))
        #expect(!ifNoneMatch(nil, matches: #"W/"a.1""#))
    }
}
