import Foundation
import Logging
import PazAMQP
import PazControlPlane
import PazGatewayAPI
import PazGatewayClient
import PazHTTP
import PazRedis
import PazSchemas
import PazStore
import PazLocalServers
import PazTestSupport
import Testing

@Suite("Gateway", .timeLimit(.minutes(3)))
struct GatewayTests {
    static let options: [CreateOptionSpec] = [
        CreateOptionSpec(name: "accel", type: .string, required: true, description: "accelerator"),
        CreateOptionSpec(name: "cpus", type: .integer, description: "vCPUs"),
        CreateOptionSpec(name: "api-key", type: .string, description: "provider key", secret: true),
    ]

    @Test("admin creates a tenant and a token; tokens authenticate; wrong kinds are refused")
    func authentication() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("auth")

        let status = try await gateway.client(token: tenant.token).getStatus()
        #expect(try status.ok.body.json.clusters.isEmpty)

        let wrong = try await gateway.request(.get, "/v1/clusters", token: "pazt_wrong")
        #expect(wrong.status == 401)
        #expect(wrong.headers["WWW-Authenticate"]?.contains("Bearer") == true)
        #expect(json(wrong)["type"] as? String == "urn:paz:problem:unauthorized")
        #expect(try await gateway.request(.get, "/v1/clusters", token: nil).status == 401)
        #expect(try await gateway.request(.get, "/v1/admin/tenants", token: tenant.token).status == 403)
        #expect(try await gateway.request(.get, "/v1/clusters", token: gateway.adminToken).status == 403)
        #expect(try await gateway.request(.get, "/healthz", token: nil).status == 200)
        let document = try await gateway.request(.get, "/openapi.yaml", token: nil)
        #expect(document.status == 200)
        #expect(String(decoding: document.body, as: UTF8.self).contains("openapi: 3.1"))
        // Readiness follows the dependencies' connections, which a loaded machine may still be making.
        var ready = try await gateway.request(.get, "/readyz", token: nil)
        let deadline = ContinuousClock.now + .seconds(15)
        while ready.status != 200 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            ready = try await gateway.request(.get, "/readyz", token: nil)
        }
        #expect(ready.status == 200, "\(String(decoding: ready.body, as: UTF8.self))")
    }

    @Test("a required option may be given per machine; a machine without it is refused naming the option")
    func requiredOptionPerMachine() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("per-machine")
        let driver = try await gateway.announceDriver("drv", options: Self.options)
        let body = #"{"name":"pm","driver":"\#(driver)","options":{"cpus":2},"machines":[{"options":{"accel":"kvm"}},{"options":{"accel":"tcg"}}]}"#
        let created = try await gateway.request(.post, "/v1/clusters", token: tenant.token, json: body)
        #expect(created.status == 202, "\(String(decoding: created.body, as: UTF8.self))")
        let commands = try await gateway.drainCommands(driver: driver, count: 2)
        let accels = commands.compactMap { command -> JSONValue? in
            guard case .machineCreate(let create) = command.payload else { return nil }
            return create.options["accel"]
        }
        #expect(Set(accels) == [.string("kvm"), .string("tcg")])
        let cluster = try #require(try await gateway.store.cluster("pm", tenant: try TenantID(tenant.id)))
        #expect(cluster.options["cpus"] == .number(2) && cluster.options["accel"] == nil)

        let missing = #"{"name":"pm2","driver":"\#(driver)","machines":[{"options":{"accel":"kvm"}},{}]}"#
        let refused = try await gateway.request(.post, "/v1/clusters", token: tenant.token, json: missing)
        #expect(refused.status == 400 || refused.status == 422)
        #expect(String(decoding: refused.body, as: UTF8.self).contains("accel"))
        #expect(try await gateway.store.cluster("pm2", tenant: try TenantID(tenant.id)) == nil)
    }

    @Test("cluster create publishes one confirmed machine.create per machine; Idempotency-Key replays")
    func createPublishesCommands() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("create")
        let driver = try await gateway.announceDriver("drv", options: Self.options)
        let body = #"{"name":"web","driver":"\#(driver)","count":3,"options":{"accel":"tcg","cpus":2,"api-key":"s3cr3t-value"}}"#
        let key = "key-" + UUID().uuidString

        let created = try await gateway.request(.post, "/v1/clusters", token: tenant.token, json: body, headers: ["Idempotency-Key": key])
        #expect(created.status == 202, "\(String(decoding: created.body, as: UTF8.self))")
        let operationId = try #require(json(created)["id"] as? String)
        #expect(created.headers["Location"] == "/v1/operations/\(operationId)")
        #expect(json(created)["state"] as? String == "queued")

        let commands = try await gateway.drainCommands(driver: driver, count: 3)
        #expect(commands.count == 3)
        for command in commands {
            #expect(command.operationId?.rawValue == operationId)
            #expect(command.tenantId?.rawValue == tenant.id)
            guard case .machineCreate(let create) = command.payload else {
                Issue.record("expected machine.create, got \(command.kind)")
                continue
            }
            #expect(create.options["accel"] == .string("tcg"))
            #expect(create.options["api-key"] == nil)
        }
        let raw = commands.map { String(decoding: (try? MessageCodec.encode($0)) ?? Data(), as: UTF8.self) }.joined()
        #expect(!raw.contains("s3cr3t-value"))
        // The secret is sealed per machine.
        let machines = try await gateway.store.machines(tenant: try TenantID(tenant.id))
        #expect(machines.count == 3)
        for machine in machines {
            #expect(try await gateway.store.secrets(tenant: try TenantID(tenant.id), machine: machine.id) == ["api-key": "s3cr3t-value"])
        }
        let sealed = try await gateway.store.redis.getString(StoreKeys.secrets(try TenantID(tenant.id), machines[0].id))
        #expect(sealed != nil && sealed?.contains("s3cr3t-value") == false)

        let replay = try await gateway.request(.post, "/v1/clusters", token: tenant.token, json: body, headers: ["Idempotency-Key": key])
        #expect(replay.status == 202)
        #expect(json(replay)["id"] as? String == operationId)
        #expect(replay.headers["Idempotent-Replayed"] == "true")
        try await Task.sleep(for: .milliseconds(300))
        let queued = try await gateway.amqp.queueStatus(Routing.driverCommandQueue(driver: driver))
        #expect(queued?.messageCount == 0)

        let mismatch = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token, json: body.replacingOccurrences(of: "\"count\":3", with: "\"count\":2"),
            headers: ["Idempotency-Key": key])
        #expect(mismatch.status == 422)
        #expect(json(mismatch)["type"] as? String == "urn:paz:problem:idempotency-key-mismatch")
    }

    @Test("validation answers 422 naming the field")
    func validation() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("valid", quota: 2)
        let driver = try await gateway.announceDriver("drv", options: Self.options)
        let cases: [(String, String, String)] = [
            (#"{"name":"Bad_Name","driver":"\#(driver)","options":{"accel":"tcg"}}"#, "name", "validation"),
            (#"{"name":"ok","driver":"no-such-driver","options":{"accel":"tcg"}}"#, "driver", "unknown-driver"),
            (#"{"name":"ok","driver":"\#(driver)","options":{"accel":"tcg","cpu":1}}"#, "options.cpu", "unknown-option"),
            (#"{"name":"ok","driver":"\#(driver)"}"#, "options.accel", "validation"),
            (#"{"name":"ok","driver":"\#(driver)","options":{"accel":"tcg","cpus":"two"}}"#, "options.cpus", "validation"),
            (#"{"name":"ok","driver":"\#(driver)","count":3,"options":{"accel":"tcg"}}"#, "count", "quota-exceeded"),
            (#"{"name":"ok","driver":"\#(driver)","count":0,"options":{"accel":"tcg"}}"#, "count", "validation"),
        ]
        for (body, field, type) in cases {
            let answer = try await gateway.request(.post, "/v1/clusters", token: tenant.token, json: body)
            #expect(answer.status == 422, "\(body): \(String(decoding: answer.body, as: UTF8.self))")
            #expect(json(answer)["field"] as? String == field, "\(body)")
            #expect(json(answer)["type"] as? String == "urn:paz:problem:\(type)", "\(body)")
        }
        #expect(try await gateway.store.clusters(tenant: try TenantID(tenant.id)).isEmpty)
    }

    @Test("another tenant's cluster and machines answer like missing ones")
    func tenantIsolation() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let owner = try await gateway.makeTenant("owner")
        let other = try await gateway.makeTenant("other")
        let driver = try await gateway.announceDriver("drv", options: Self.options)
        let created = try await gateway.request(
            .post, "/v1/clusters", token: owner.token, json: #"{"name":"db","driver":"\#(driver)","options":{"accel":"kvm"}}"#)
        #expect(created.status == 202)
        _ = try await gateway.drainCommands(driver: driver, count: 1)
        let machine = try #require(try await gateway.store.machines(tenant: try TenantID(owner.id)).first)

        let list = try await gateway.client(token: other.token).listClusters()
        #expect(try list.ok.body.json.clusters.isEmpty)
        for (method, path) in [
            (PazHTTP.HTTPMethod.get, "/v1/clusters/db"), (.delete, "/v1/clusters/db"), (.post, "/v1/clusters/db/stop"),
            (.get, "/v1/machines/\(machine.id.rawValue)"), (.delete, "/v1/machines/db-1"), (.post, "/v1/machines/db-1/start"),
            (.get, "/v1/operations/\(json(created)["id"] as? String ?? "")"),
        ] {
            let answer = try await gateway.request(method, path, token: other.token)
            #expect(answer.status == 404, "\(method) \(path): \(String(decoding: answer.body, as: UTF8.self))")
        }
        #expect(try await gateway.request(.get, "/v1/clusters/db", token: owner.token).status == 200)
    }

    @Test("operation events drive the operation and the machine records")
    func eventsApply() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("events")
        let driver = try await gateway.announceDriver("drv", options: Self.options)
        let created = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token, json: #"{"name":"app","driver":"\#(driver)","options":{"accel":"kvm"}}"#)
        let operationId = try #require(json(created)["id"] as? String)
        let command = try #require(try await gateway.drainCommands(driver: driver, count: 1).first)
        guard case .machineCreate(let create) = command.payload else { throw CancellationError() }
        let client = gateway.client(token: tenant.token)

        try await gateway.publishProgress(
            tenant: tenant.id, operation: operationId, command: .machineCreate,
            machines: [MachineProgress(machine: create.machine, phase: .running, step: "provisioning")], phase: .running)
        #expect(await eventually {
            (try? await client.getOperation(path: .init(operation: operationId)).ok.body.json.state) == .running
        })
        let details = MachineDetails(
            machine: create.machine, state: .running, observedAt: Date(), providerId: "vm-1",
            addresses: [MachineAddress(address: "127.0.0.9", scope: .public)], ssh: SSHEndpoint(host: "127.0.0.9", user: "paz"))
        try await gateway.publishProgress(
            tenant: tenant.id, operation: operationId, command: .machineCreate,
            machines: [MachineProgress(machine: create.machine, phase: .succeeded, details: details)], phase: .succeeded)
        #expect(await eventually {
            (try? await client.getOperation(path: .init(operation: operationId)).ok.body.json.state) == .succeeded
        })
        #expect(await eventually {
            let cluster = try? await client.getCluster(path: .init(cluster: "app")).ok.body.json
            return cluster?.machines.first?.addresses.first?.address == "127.0.0.9"
        })
        let ip = try await gateway.request(.get, "/v1/machines/app-1/ip", token: tenant.token)
        #expect(json(ip)["ip"] as? String == "127.0.0.9")

        // The finished operation's event stream sends snapshot then end.
        let stream = try await gateway.request(.get, "/v1/operations/\(operationId)/events", token: tenant.token)
        let text = String(decoding: stream.body, as: UTF8.self)
        #expect(text.contains("event: snapshot") && text.contains("event: end"))

        // Removing the machine: a succeeded machine.remove forgets it.
        let removal = try await gateway.request(.delete, "/v1/machines/app-1", token: tenant.token)
        #expect(removal.status == 202)
        let removeId = try #require(json(removal)["id"] as? String)
        let removeCommand = try #require(try await gateway.drainCommands(driver: driver, count: 1).first)
        #expect(removeCommand.kind == .machineRemove)
        try await gateway.publishProgress(
            tenant: tenant.id, operation: removeId, command: .machineRemove,
            machines: [MachineProgress(machine: create.machine, phase: .succeeded)], phase: .succeeded)
        #expect(await eventually {
            (try? await gateway.store.machine(create.machineId, tenant: try TenantID(tenant.id))) == .some(nil)
        })
    }

    @Test("status reads states from Redis and marks old ones stale")
    func status() async throws {
        let gateway = try await GatewayHarness.start(staleAfterSeconds: 30)
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("status")
        let driver = try await gateway.announceDriver("drv", options: Self.options)
        let created = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token,
            json: #"{"name":"st","driver":"\#(driver)","count":2,"options":{"accel":"kvm"}}"#)
        #expect(created.status == 202)
        let tenantId = try TenantID(tenant.id)
        let machines = try await gateway.store.machines(tenant: tenantId)
        try #require(machines.count == 2)
        _ = try await gateway.store.writeState(
            StateRecord(state: .running, observedAt: Date(), source: .poll), machine: machines[0].id, tenant: tenantId)
        // Older than the initial `starting` record, so write it over a removed state.
        _ = try await gateway.store.redis.command([
            "HDEL", .init(StoreKeys.states(tenantId)), .init(machines[1].id.rawValue),
        ])
        _ = try await gateway.store.writeState(
            StateRecord(state: .stopped, observedAt: Date().addingTimeInterval(-120), source: .poll),
            machine: machines[1].id, tenant: tenantId)

        let report = try await gateway.client(token: tenant.token).getStatus().ok.body.json
        let cluster = try #require(report.clusters.first)
        #expect(report.staleAfterSeconds == 30)
        let byId = Dictionary(uniqueKeysWithValues: cluster.machines.map { ($0.id, $0) })
        #expect(byId[machines[0].id.rawValue]?.state == .running)
        #expect(byId[machines[0].id.rawValue]?.stale == false)
        #expect(byId[machines[1].id.rawValue]?.state == .stopped)
        #expect(byId[machines[1].id.rawValue]?.stale == true)
        #expect((byId[machines[1].id.rawValue]?.ageSeconds ?? 0) >= 119)
        #expect(cluster.states.running == 1 && cluster.states.stopped == 1)
    }

    @Test("RabbitMQ unreachable: create answers 503 with Retry-After and records nothing")
    func brokerDown() async throws {
        let gateway = try await GatewayHarness.start(amqpPort: 1)
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("down")
        let driver = try await gateway.announceDriver("drv", options: Self.options)
        let key = "down-" + UUID().uuidString
        let answer = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token,
            json: #"{"name":"x","driver":"\#(driver)","options":{"accel":"kvm"}}"#, headers: ["Idempotency-Key": key])
        #expect(answer.status == 503)
        #expect(answer.headers["Retry-After"] != nil)
        #expect(json(answer)["type"] as? String == "urn:paz:problem:dependency-unavailable")
        let tenantId = try TenantID(tenant.id)
        #expect(try await gateway.store.clusters(tenant: tenantId).isEmpty)
        #expect(try await gateway.store.machines(tenant: tenantId).isEmpty)
        #expect(try await gateway.store.redis.getString(StoreKeys.idempotency(tenantId, key: key)) == nil)
        #expect(try await gateway.request(.get, "/readyz", token: nil).status == 503)
    }

    @Test("a command no driver queue takes fails the create with 503 and records nothing")
    func unroutableCommand() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("noqueue")
        let name = try ResourceName("ghost-\(UUID().uuidString.prefix(8).lowercased())")
        try await gateway.store.announce(DriverAnnouncement(
            name: name, version: "0.1.0", instanceId: "ghost", capabilities: [.create], createOptions: [],
            ttlSeconds: 60, startedAt: Date()))
        let answer = try await gateway.requestRidingOutBrokerDrops(
            .post, "/v1/clusters", token: tenant.token, json: #"{"name":"g","driver":"\#(name)"}"#)
        #expect(answer.status == 503, "\(String(decoding: answer.body, as: UTF8.self))")
        #expect(json(answer)["type"] as? String == "urn:paz:problem:driver-unavailable")
        #expect(answer.headers["Retry-After"] != nil)
        let tenantId = try TenantID(tenant.id)
        #expect(try await gateway.store.clusters(tenant: tenantId).isEmpty)
        #expect(try await gateway.store.machines(tenant: tenantId).isEmpty)
    }

    @Test("during a rollout a create option only one live version announces is refused (422); one every version knows passes validation")
    func optionsOfTwoLiveVersions() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("rollout")
        let name = try ResourceName("mixed-\(UUID().uuidString.prefix(8).lowercased())")
        let shared = CreateOptionSpec(name: "cpus", type: .integer, description: "vCPUs")
        let newer = CreateOptionSpec(name: "gpus", type: .integer, description: "GPUs, from 0.2.0 on")
        for (instance, version, options) in [("old", "0.1.0", [shared]), ("new", "0.2.0", [shared, newer])] {
            try await gateway.store.announce(DriverAnnouncement(
                name: name, version: version, instanceId: instance, capabilities: [.create], createOptions: options,
                ttlSeconds: 60, startedAt: Date()))
        }
        let refused = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token, json: #"{"name":"g","driver":"\#(name)","options":{"gpus":1}}"#)
        #expect(refused.status == 422, "\(String(decoding: refused.body, as: UTF8.self))")
        #expect(String(decoding: refused.body, as: UTF8.self).contains("gpus"))
        // An option both versions know passes validation; no queue takes the command (503), so
        // nothing is recorded either way.
        let known = try await gateway.requestRidingOutBrokerDrops(
            .post, "/v1/clusters", token: tenant.token, json: #"{"name":"g","driver":"\#(name)","options":{"cpus":2}}"#)
        #expect(known.status == 503, "\(String(decoding: known.body, as: UTF8.self))")
        let driver = try await gateway.request(.get, "/v1/drivers/\(name)", token: tenant.token)
        let options = (json(driver)["createOptions"] as? [[String: Any]])?.compactMap { $0["name"] as? String }
        #expect(options == ["cpus"])
        let tenantId = try TenantID(tenant.id)
        #expect(try await gateway.store.clusters(tenant: tenantId).isEmpty)
    }

    @Test("an undecodable event is dead-lettered with the reason headers and acked")
    func undecodableEvent() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let marker = "not-json-\(UUID().uuidString)"
        let deadLetters = try await DeadLetterDrain.open(on: gateway.amqp)
        // Published as the services publish: a nacked message is published again.
        try await ConfirmedPublisher(amqp: gateway.amqp).publish(OutgoingMessage(
            exchange: Routing.eventsExchange, routingKey: Routing.eventRoutingKey(.eventOperation),
            body: Array(marker.utf8), properties: AMQPProperties(), mandatory: true))
        let found = try await deadLetters.take(marker: marker, count: 1, timeout: .seconds(30)).first
        await deadLetters.close()
        let delivery = try #require(found)
        #expect(delivery.properties.headers[Routing.deadLetterReasonHeader] != nil)
        #expect(delivery.properties.headers[Routing.deadLetterDetailHeader] != nil)
        let status = try await gateway.amqp.queueStatus("paz.gateway.events")
        #expect(status?.messageCount == 0)
    }

    @Test("Redis unreachable: calls answer 503 with Retry-After, the gateway keeps serving")
    func redisDown() async throws {
        let redis = try await TestRedis.privateServer(appendOnly: false)
        let gateway = try await GatewayHarness.start(redis: redis)
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("redis")
        await redis.stop()
        let answer = try await gateway.request(.get, "/v1/clusters", token: tenant.token)
        #expect(answer.status == 503, "\(String(decoding: answer.body, as: UTF8.self))")
        #expect(answer.headers["Retry-After"] != nil)
        #expect(json(answer)["type"] as? String == "urn:paz:problem:dependency-unavailable")
        #expect(try await gateway.request(.get, "/readyz", token: nil).status == 503)
        #expect(try await gateway.request(.get, "/healthz", token: nil).status == 200)
    }

    @Test("drivers come from the registry; catalog calls go to the driver over AMQP RPC, 504 without an answer")
    func driversAndCatalog() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("catalog")
        let driver = try await gateway.announceDriver("cat", options: Self.options)
        let client = gateway.client(token: tenant.token)
        let listed = try await client.getDriver(path: .init(driver: driver.rawValue)).ok.body.json
        #expect(listed.createOptions.map(\.name).sorted() == ["accel", "api-key", "cpus"])
        #expect(listed.createOptions.first { $0.name == "api-key" }?.secret == true)
        #expect(listed.versions.first?.replicas == 1)

        let silent = try await gateway.request(.get, "/v1/drivers/\(driver)/sizes", token: tenant.token)
        #expect(silent.status == 504, "\(String(decoding: silent.body, as: UTF8.self))")

        let amqp = gateway.amqp
        let consumer = MessageConsumer(
            CommandPayload.self, amqp: amqp, ready: { true },
            settings: ConsumerSettings(
                queue: Routing.driverQueryQueue(driver: driver), prefetch: 8, concurrent: true, retry: .requests),
            logger: Logger(label: "test.catalog-driver")
        ) { request in
            let reply = request.envelope.reply(.catalogSizes(CatalogSizes(sizes: [
                CatalogSize(id: "small", name: "Small", vcpus: 1, ramMiB: 1024, diskGiB: 10)
            ])))
            return await RPCResponder(amqp: amqp).answer(request.delivery, kind: request.envelope.kind, with: reply)
        }
        let responder = Task { await consumer.run() }
        defer { responder.cancel() }
        let sizes = try await client.listDriverSizes(path: .init(driver: driver.rawValue)).ok.body.json.sizes
        #expect(sizes.map(\.id) == ["small"])
        #expect(sizes.first?.ramMiB == 1024)
    }

    @Test("cluster delete queues machine.remove per machine and cluster.remove; its success forgets the cluster")
    func clusterDelete() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("delete")
        let driver = try await gateway.announceDriver("drv", options: Self.options)
        let created = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token,
            json: #"{"name":"gone","driver":"\#(driver)","count":2,"options":{"accel":"kvm"}}"#)
        #expect(created.status == 202)
        _ = try await gateway.drainCommands(driver: driver, count: 2)

        let stop = try await gateway.request(.post, "/v1/clusters/gone/stop", token: tenant.token)
        #expect(stop.status == 202)
        #expect(try await gateway.drainCommands(driver: driver, count: 2).map(\.kind) == [.machineStop, .machineStop])

        let removal = try await gateway.request(.delete, "/v1/clusters/gone", token: tenant.token)
        #expect(removal.status == 202)
        let operationId = try #require(json(removal)["id"] as? String)
        let commands = try await gateway.drainCommands(driver: driver, count: 3)
        #expect(commands.map(\.kind).sorted { $0.rawValue < $1.rawValue } == [.clusterRemove, .machineRemove, .machineRemove])
        let refs = commands.compactMap { command -> MachineRef? in
            if case .machineRemove(let action) = command.payload { return action.machine }
            return nil
        }
        // One machine's removal at a time: the operation ends with the second, and whoever sees it
        // end finds the cluster already gone.
        let state = { json(try await gateway.request(.get, "/v1/operations/\(operationId)", token: tenant.token))["state"] as? String }
        try await gateway.publishProgress(
            tenant: tenant.id, operation: operationId, command: .machineRemove,
            machines: [MachineProgress(machine: refs[0], phase: .succeeded)], phase: .running)
        #expect(await eventually(timeout: .seconds(30)) { (try? await state()) == "running" })
        #expect(try await gateway.request(.get, "/v1/clusters/gone", token: tenant.token).status == 200)
        try await gateway.publishProgress(
            tenant: tenant.id, operation: operationId, command: .machineRemove,
            machines: [MachineProgress(machine: refs[1], phase: .succeeded)], phase: .succeeded)
        #expect(await eventually(timeout: .seconds(30)) { (try? await state()) == "succeeded" })
        #expect(try await gateway.request(.get, "/v1/clusters/gone", token: tenant.token).status == 404)
        let tenantId = try TenantID(tenant.id)
        #expect(try await gateway.store.clusters(tenant: tenantId).isEmpty)
        #expect(try await gateway.store.machines(tenant: tenantId).isEmpty)
    }

    @Test("the event stream of a running operation sends snapshot, state changes and end")
    func eventStream() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("sse")
        let driver = try await gateway.announceDriver("drv", options: Self.options)
        let created = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token, json: #"{"name":"live","driver":"\#(driver)","options":{"accel":"kvm"}}"#)
        let operationId = try #require(json(created)["id"] as? String)
        let command = try #require(try await gateway.drainCommands(driver: driver, count: 1).first)
        guard case .machineCreate(let create) = command.payload else { throw CancellationError() }

        async let stream = gateway.request(.get, "/v1/operations/\(operationId)/events", token: tenant.token)
        try await Task.sleep(for: .milliseconds(600))
        try await gateway.publishProgress(
            tenant: tenant.id, operation: operationId, command: .machineCreate,
            machines: [MachineProgress(machine: create.machine, phase: .running, step: "provisioning")], phase: .running)
        try await Task.sleep(for: .milliseconds(600))
        try await gateway.publishProgress(
            tenant: tenant.id, operation: operationId, command: .machineCreate,
            machines: [MachineProgress(machine: create.machine, phase: .succeeded)], phase: .succeeded)
        let answer = try await stream
        let text = String(decoding: answer.body, as: UTF8.self)
        #expect(answer.status == 200)
        #expect(answer.headers["Content-Type"]?.hasPrefix("text/event-stream") == true)
        #expect(text.hasPrefix("retry: 3000"))
        let events = text.split(separator: "\n").filter { $0.hasPrefix("event: ") }.map { String($0.dropFirst(7)) }
        #expect(events.first == "snapshot")
        #expect(events.contains("state"))
        #expect(events.last == "end")
        #expect(text.contains(#""state":"running""#) && text.contains(#""state":"succeeded""#))
    }
}
