/// AMQP names every service agrees on. See docs/schemas.md, "Routing".
package enum Routing {
    /// Direct exchange for commands to drivers; routing key = driver name.
    package static let commandsExchange = "paz.commands"
    /// Topic exchange for events; routing key = the event's kind (e.g. `event.machine.state`).
    package static let eventsExchange = "paz.events"
    /// Fanout exchange that quorum queues dead-letter to.
    package static let deadLetterExchange = "paz.dead-letter"
    /// The queue bound to ``deadLetterExchange``; inspect it for poison messages.
    package static let deadLetterQueue = "paz.dead-letter"
    /// The SSH broker's RPC request queue (default exchange, routing key = queue name).
    package static let sshBrokerQueue = "paz.ssh-broker.rpc"
    /// The gateway's event queue (`event.operation`).
    package static let gatewayEventsQueue = "paz.gateway.events"
    /// The status collector's event queue (`event.machine.state`).
    package static let collectorEventsQueue = "paz.collector.events"
    /// Header a consumer sets to ``SchemaError/reason`` (or its own reason) when it dead-letters a
    /// message by publishing it to ``deadLetterExchange``.
    package static let deadLetterReasonHeader = "x-paz-dead-letter-reason"
    /// Header carrying a readable explanation next to ``deadLetterReasonHeader``.
    package static let deadLetterDetailHeader = "x-paz-dead-letter-detail"
    /// AMQP `content-type` of every message.
    package static let contentType = "application/json"
    /// Delivery limit set on every quorum queue (`x-delivery-limit`).
    package static let deliveryLimit = 5

    /// `paz.driver.<name>.commands`: the durable quorum queue all replicas of a driver consume.
    package static func driverCommandQueue(driver: ResourceName) -> String {
        "paz.driver.\(driver.rawValue).commands"
    }

    /// Routing key of a command for `driver` on ``commandsExchange``.
    package static func commandRoutingKey(driver: ResourceName) -> String {
        driver.rawValue
    }

    /// Routing key of an event on ``eventsExchange``: its kind.
    package static func eventRoutingKey(_ kind: MessageKind) -> String {
        kind.rawValue
    }
}
