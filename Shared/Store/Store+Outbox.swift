package import Foundation
package import PazSchemas
import PazRedis

/// Commands accepted by the gateway whose publish to RabbitMQ was not confirmed (a confirm timed
/// out, the connection went between confirms): kept until the outbox relay has published them.
package struct OutboxEntry: Sendable, Hashable, Codable {
    package var tenant: TenantID
    package var operation: OperationID
    package var driver: ResourceName
    /// The commands still to publish, as encoded envelopes (their message ids stay the same).
    package var commands: [String]
    package var createdAt: Date
    /// Publish attempts so far (the relay's backoff).
    package var attempts: Int

    package init(tenant: TenantID, operation: OperationID, driver: ResourceName, commands: [String], createdAt: Date = Date()) {
        self.tenant = tenant
        self.operation = operation
        self.driver = driver
        self.commands = commands
        self.createdAt = createdAt
        self.attempts = 0
    }
}

extension Store {
    /// How long an outbox entry is kept at most (the relay gives up on it sooner).
    static let outboxRetention: Duration = .seconds(24 * 3600)

    /// Stores `entry` and schedules it for the relay in `dueIn`.
    package func putOutbox(_ entry: OutboxEntry, dueIn: Duration) async throws(StoreError) {
        let json = try encode(entry)
        let due = Date().addingTimeInterval(Double(dueIn.components.seconds)).timeIntervalSince1970
        _ = try await run { () async throws(RedisError) in
            try await redis.pipeline([
                ["SET", RedisArgument(StoreKeys.outbox(entry.tenant, entry.operation)), RedisArgument(json), "EX",
                 RedisArgument(Int(Self.outboxRetention.components.seconds))],
                ["ZADD", RedisArgument(StoreKeys.outboxSchedule), RedisArgument(due),
                 RedisArgument(Self.outboxMember(entry.tenant, entry.operation))],
            ])
        }
    }

    /// The entries due now (at most `limit`); a member whose entry is gone is dropped.
    package func dueOutbox(limit: Int) async throws(StoreError) -> [OutboxEntry] {
        let now = Date().timeIntervalSince1970
        let members = try await run { () async throws(RedisError) in
            try await redis.zrangeByScore(StoreKeys.outboxSchedule, min: 0, max: now, limit: (0, limit))
        }
        var entries: [OutboxEntry] = []
        for member in members {
            let parts = member.split(separator: "/", maxSplits: 1).map(String.init)
            guard parts.count == 2, let tenant = try? TenantID(parts[0]), let operation = try? OperationID(parts[1]) else {
                _ = try await run { () async throws(RedisError) in
                    try await redis.zrem(StoreKeys.outboxSchedule, members: [member])
                }
                continue
            }
            let key = StoreKeys.outbox(tenant, operation)
            guard let text = try await run({ () async throws(RedisError) in try await redis.getString(key) }) else {
                try await removeOutbox(tenant: tenant, operation: operation)
                continue
            }
            entries.append(try decode(OutboxEntry.self, from: text, key: key))
        }
        return entries
    }

    /// Forgets an entry (all its commands were confirmed, or the relay gave up).
    package func removeOutbox(tenant: TenantID, operation: OperationID) async throws(StoreError) {
        _ = try await run { () async throws(RedisError) in
            try await redis.pipeline([
                ["ZREM", RedisArgument(StoreKeys.outboxSchedule), RedisArgument(Self.outboxMember(tenant, operation))],
                ["DEL", RedisArgument(StoreKeys.outbox(tenant, operation))],
            ])
        }
    }

    private static func outboxMember(_ tenant: TenantID, _ operation: OperationID) -> String {
        "\(tenant.rawValue)/\(operation.rawValue)"
    }
}
