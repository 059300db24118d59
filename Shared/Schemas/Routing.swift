/// AMQP names every service agrees on. See docs/schemas.md, "Routing".
package enum Routing {
    /// Direct exchange for commands to drivers; routing key = driver name.
    package static let commandsExchange = "paz.commands"
    /// Topic exchange for events; routing key = the event's kind (e.g. `event.machine.state`).
    package static let eventsExchange = "paz.events"
    /// Fanout exchange that quorum queues dead-letter to.
    package static let deadLetterExchange = "paz.dead-letter"
    /// The queue bound to ``deadLetterExchange`` for operators to inspect (bounded: a week, 10,000
    /// messages; the oldest go first).
    package static let deadLetterQueue = "paz.dead-letters"
    /// The gateway's queue on ``deadLetterExchange``: it fails the operation of every dead command.
    package static let gatewayDeadLettersQueue = "paz.gateway.dead-letters"
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
    /// Header counting the attempts a message has failed (set when it is republished for a retry).
    package static let failedAttemptsHeader = "x-paz-failed-attempts"
    /// Header counting how often a message was deferred (its machine was busy).
    package static let deferralsHeader = "x-paz-deferrals"
    /// Header with the last error of a retried message.
    package static let lastErrorHeader = "x-paz-last-error"
    /// Header with the AMQP `user-id` of a retried message's original sender. Trusted only on a
    /// message whose own `user-id` is the consumer's (only it can republish its queue's messages).
    package static let originUserHeader = "x-paz-origin-user-id"
    /// AMQP `content-type` of every message.
    package static let contentType = "application/json"
    /// The retry queues (and their fanout exchanges of the same names), one per delay: a message
    /// waits there and then returns, through the default exchange, to the queue its routing key names.
    package static let retryDelaysSeconds = [1, 2, 5, 10, 30]
    /// `paz.retry.<seconds>s` for each of ``retryDelaysSeconds``.
    package static var retryQueueNames: [String] { retryDelaysSeconds.map(retryQueueName(seconds:)) }

    /// The retry queue (and exchange) whose messages wait `seconds`.
    package static func retryQueueName(seconds: Int) -> String { "paz.retry.\(seconds)s" }

    /// Delivery limit set on every quorum queue (`x-delivery-limit`).
    package static let deliveryLimit = 5

    /// `paz.driver.<name>.commands`: the durable quorum queue all replicas of a driver consume.
    package static func driverCommandQueue(driver: ResourceName) -> String {
        "paz.driver.\(driver.rawValue).commands"
    }

    /// `paz.driver.<name>.queries`: the queue of a driver's queries (state polls, catalog, probes),
    /// apart from its commands so that slow commands never hold a query up.
    package static func driverQueryQueue(driver: ResourceName) -> String {
        "paz.driver.\(driver.rawValue).queries"
    }

    /// Routing key of a query for `driver` on ``commandsExchange``.
    package static func queryRoutingKey(driver: ResourceName) -> String {
        "\(driver.rawValue).queries"
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
