import Foundation
import PazAMQP
import PazControlPlane
import PazGatewayAPI
import PazHTTP
import PazSchemas
import Testing

/// A driver of a newer minor schema version answers this gateway with fields it does not know
/// (docs/operations.md, "Rolling out a driver"): the gateway applies its events as before.
@Suite("Gateway: events of a newer minor schema version")
struct GatewaySchemaMinorTests {
    @Test("a newer minor's operation event, with unknown fields at every level, ends the operation and records the machine")
    func newerMinorEventApplies() async throws {
        let gateway = try await GatewayHarness.start()
        defer { Task { await gateway.stop() } }
        let tenant = try await gateway.makeTenant("minor")
        let driver = try await gateway.announceDriver("drv", options: GatewayTests.options)
        let created = try await gateway.request(
            .post, "/v1/clusters", token: tenant.token, json: #"{"name":"app","driver":"\#(driver)","options":{"accel":"kvm"}}"#)
        let operationId = try #require(json(created)["id"] as? String)
        let command = try #require(try await gateway.drainCommands(driver: driver, count: 1).first)
        guard case .machineCreate(let create) = command.payload else { throw CancellationError() }

        let details = MachineDetails(
            machine: create.machine, state: .running, observedAt: Date(), providerId: "vm-1",
            addresses: [MachineAddress(address: "127.0.0.9", scope: .public)], ssh: SSHEndpoint(host: "127.0.0.9", user: "paz"))
        let envelope = EventEnvelope(
            tenantId: try TenantID(tenant.id), operationId: try OperationID(operationId), trace: .newTrace(),
            payload: .operation(OperationProgress(
                command: .machineCreate, phase: .succeeded,
                machines: [MachineProgress(machine: create.machine, phase: .succeeded, details: details)])))
        var newer = try #require(try JSONSerialization.jsonObject(with: MessageCodec.encode(envelope)) as? [String: Any])
        newer["schemaVersion"] = "\(SchemaVersion.current.major).\(SchemaVersion.current.minor + 1)"
        newer["region"] = "eu-2"
        var payload = try #require(newer["payload"] as? [String: Any])
        payload["costEstimate"] = ["currency": "EUR", "hourly": 0.02]
        var machines = try #require(payload["machines"] as? [[String: Any]])
        var machineDetails = try #require(machines[0]["details"] as? [String: Any])
        machineDetails["gpu"] = ["model": "none"]
        machines[0]["details"] = machineDetails
        payload["machines"] = machines
        newer["payload"] = payload
        try await ConfirmedPublisher(amqp: gateway.amqp).publish(OutgoingMessage(
            exchange: Routing.eventsExchange, routingKey: Routing.eventRoutingKey(.eventOperation),
            body: Array(try JSONSerialization.data(withJSONObject: newer)), properties: AMQPProperties(), mandatory: true))

        let client = gateway.client(token: tenant.token)
        #expect(await eventually {
            (try? await client.getOperation(path: .init(operation: operationId)).ok.body.json.state) == .succeeded
        })
        let ip = try await gateway.request(.get, "/v1/machines/app-1/ip", token: tenant.token)
        #expect(json(ip)["ip"] as? String == "127.0.0.9")
    }
}
