/// How to reach a RabbitMQ broker and how a connection behaves when it is lost.
///
/// The password never appears in `description` or in any log line.
package struct AMQPConfiguration: Sendable, CustomStringConvertible {
    /// Broker host (an IP address or name; this project only uses loopback).
    package var host: String
    /// AMQP port.
    package var port: Int
    /// More nodes of the same RabbitMQ cluster (same user and virtual host). A connection attempt
    /// tries every node in turn, starting after the one whose connection was lost.
    package var otherNodes: [AMQPNode] = []
    /// User name for PLAIN authentication.
    package var user: String
    /// Password for PLAIN authentication (secret: never logged).
    package var password: String
    /// Virtual host.
    package var virtualHost: String
    /// Heartbeat interval negotiated with the broker (whole seconds, at least 1).
    package var heartbeat: Duration
    /// Shown in the broker's connection list (`connection_name` client property).
    package var connectionName: String
    /// First delay before reconnecting after a loss.
    package var reconnectMinimumDelay: Duration
    /// Upper bound of the exponential reconnect delay.
    package var reconnectMaximumDelay: Duration
    /// Random spread applied to each reconnect delay, as a fraction (0.2 = ±20 %).
    package var reconnectJitter: Double
    /// How long a publish waits for the broker's confirm before failing with ``AMQPError/confirmTimeout(after:)``.
    package var confirmTimeout: Duration
    /// TCP connect timeout.
    package var connectTimeout: Duration
    /// Timeout of synchronous protocol operations (declare, bind, consume…).
    package var operationTimeout: Duration

    /// A configuration with production defaults: heartbeat 10 s, reconnect 100 ms…5 s ±20 %, confirm timeout 10 s.
    package init(
        host: String,
        port: Int = 5672,
        user: String,
        password: String,
        virtualHost: String = "/",
        heartbeat: Duration = .seconds(10),
        connectionName: String,
        reconnectMinimumDelay: Duration = .milliseconds(100),
        reconnectMaximumDelay: Duration = .seconds(5),
        reconnectJitter: Double = 0.2,
        confirmTimeout: Duration = .seconds(10),
        connectTimeout: Duration = .seconds(5),
        operationTimeout: Duration = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.virtualHost = virtualHost
        self.heartbeat = heartbeat
        self.connectionName = connectionName
        self.reconnectMinimumDelay = reconnectMinimumDelay
        self.reconnectMaximumDelay = reconnectMaximumDelay
        self.reconnectJitter = reconnectJitter
        self.confirmTimeout = confirmTimeout
        self.connectTimeout = connectTimeout
        self.operationTimeout = operationTimeout
    }

    /// ``host``:``port`` first, then ``otherNodes``.
    package var nodes: [AMQPNode] { [AMQPNode(host: host, port: port)] + otherNodes }

    /// `amqp://user@host:port/vhost` — without the password.
    package var description: String {
        "amqp://\(user)@\(host):\(port)/\(virtualHost == "/" ? "" : virtualHost)"
    }

    /// The delay before reconnect attempt number `attempt` (0-based): exponential, capped, jittered.
    func reconnectDelay(attempt: Int) -> Duration {
        let base = reconnectMinimumDelay * Double(1 << min(attempt, 20))
        let capped = min(base, reconnectMaximumDelay)
        let spread = max(0, min(reconnectJitter, 1))
        return capped * Double.random(in: (1 - spread)...(1 + spread))
    }
}

/// One RabbitMQ node's address.
package struct AMQPNode: Sendable, Hashable, CustomStringConvertible {
    package var host: String
    package var port: Int

    package init(host: String, port: Int = 5672) {
        self.host = host
        self.port = port
    }

    package var description: String { "\(host):\(port)" }
}
