import Foundation

/// Which kind of service a RabbitMQ or Redis user is (docs/security.md, "Service credentials").
///
/// Every service kind logs in to RabbitMQ and Redis as its own user, named by ``userName``, with
/// only the permissions it needs. RabbitMQ stamps the AMQP `user-id` of every message with its
/// connection's user (PazAMQP sets it; RabbitMQ refuses a mismatch), so a consumer can tell which
/// kind of service sent a message with ``init(userName:)``.
package enum ServiceKind: Sendable, Hashable, CustomStringConvertible {
    /// `paz-gateway`.
    case gateway
    /// `paz-ssh-broker`.
    case sshBroker
    /// `paz-status-collector`.
    case statusCollector
    /// `paz-driver-<name>`: every replica and version of one driver.
    case driver(ResourceName)

    /// The user name of this kind, the same for RabbitMQ and Redis.
    package var userName: String {
        switch self {
        case .gateway: "paz-gateway"
        case .sshBroker: "paz-ssh-broker"
        case .statusCollector: "paz-status-collector"
        case .driver(let name): "paz-driver-\(name.rawValue)"
        }
    }

    /// The kind a user name stands for; nil for any other user (e.g. `guest`).
    package init?(userName: String) {
        switch userName {
        case "paz-gateway": self = .gateway
        case "paz-ssh-broker": self = .sshBroker
        case "paz-status-collector": self = .statusCollector
        default:
            let prefix = "paz-driver-"
            guard userName.hasPrefix(prefix), let name = try? ResourceName(String(userName.dropFirst(prefix.count))) else {
                return nil
            }
            self = .driver(name)
        }
    }

    package var description: String { userName }

    /// The RabbitMQ permissions of this kind on the control plane's virtual host.
    ///
    /// Every service declares the shared exchanges, the dead-letter queue and the retry queues with
    /// their exchanges (configure), binds them (write on the queue, read on the exchange), and
    /// publishes retries and dead letters (write on those exchanges). Each declares its own queues
    /// (configure and read on them; write on them to bind them, read on their source exchange) and
    /// publishes to the default exchange (`amq.default`: RPC replies through direct reply-to,
    /// requests to the SSH broker).
    package var amqpPermissions: AMQPPermissions {
        let retryQueues = Routing.retryQueueNames  // each also its exchange's name
        let exchanges = [Routing.commandsExchange, Routing.eventsExchange, Routing.deadLetterExchange]
        let configure = exchanges + [Routing.deadLetterQueue] + retryQueues
        let write = [Routing.deadLetterExchange, Routing.deadLetterQueue] + retryQueues
        let read = [Routing.deadLetterExchange] + retryQueues
        let defaultExchange = "amq.default"
        let replies = "amq.rabbitmq.reply-to"
        switch self {
        case .gateway:
            let own = [Routing.gatewayEventsQueue, Routing.gatewayDeadLettersQueue]
            return AMQPPermissions(
                configure: configure + own,
                write: write + [Routing.commandsExchange, defaultExchange] + own,
                read: read + own + [Routing.eventsExchange, replies])
        case .statusCollector:
            let own = [Routing.collectorEventsQueue]
            return AMQPPermissions(
                configure: configure + own,
                write: write + [Routing.commandsExchange, Routing.eventsExchange, defaultExchange] + own,
                read: read + own + [Routing.eventsExchange, replies])
        case .sshBroker:
            let own = [Routing.sshBrokerQueue]
            return AMQPPermissions(
                configure: configure + own, write: write + [defaultExchange], read: read + own)
        case .driver(let name):
            let own = [Routing.driverCommandQueue(driver: name), Routing.driverQueryQueue(driver: name)]
            return AMQPPermissions(
                configure: configure + own,
                write: write + [Routing.eventsExchange, defaultExchange] + own,
                read: read + own + [Routing.commandsExchange, replies])
        }
    }
}

/// RabbitMQ configure / write / read permissions, as the names they allow (`rabbitmqctl
/// set_permissions` takes them as anchored regular expressions: ``configurePattern`` …).
package struct AMQPPermissions: Sendable, Hashable {
    package var configure: [String]
    package var write: [String]
    package var read: [String]

    package init(configure: [String], write: [String], read: [String]) {
        self.configure = configure
        self.write = write
        self.read = read
    }

    /// `^(name|…)$` with the dots escaped; the reply-to pseudo-queue also matches its per-connection names.
    static func pattern(_ names: [String]) -> String {
        let escaped = names.map { name in
            let literal = name.replacingOccurrences(of: ".", with: "\\.").replacingOccurrences(of: "-", with: "\\-")
            return name == "amq.rabbitmq.reply-to" ? literal + "(\\..*)?" : literal
        }
        return "^(" + escaped.joined(separator: "|") + ")$"
    }

    package var configurePattern: String { Self.pattern(configure) }
    package var writePattern: String { Self.pattern(write) }
    package var readPattern: String { Self.pattern(read) }
}
