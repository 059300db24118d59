package import Foundation
import PazRedis
package import PazSchemas
import PazStore

/// A step of a mutating command, as recorded in the journal before and after it runs.
package struct JournalEntry: Sendable, Hashable, Codable {
    /// Where the step is.
    package enum Status: String, Sendable, Hashable, Codable {
        case started, succeeded, failed
    }

    package var status: Status
    package var at: Date
    /// The machine as the step left it (set when a create/start/stop… succeeded).
    package var details: MachineDetails?
    /// Why it failed.
    package var error: OperationError?

    package init(status: Status, at: Date = Date(), details: MachineDetails? = nil, error: OperationError? = nil) {
        self.status = status
        self.at = at
        self.details = details
        self.error = error
    }
}

/// The per-machine intent journal (`StoreKeys.journal`, a hash step → ``JournalEntry`` JSON).
///
/// The kit writes `started` before running a mutating command and the outcome after it, under the
/// step `<command kind>:<operation id>`. A redelivered command whose step already `succeeded` is
/// not run again: its recorded outcome is published once more. A removal keeps no outcome: the journal
/// is deleted with the machine, and a redelivered removal runs again and finds the machine gone.
///
/// A journal ``fenced(by:)`` a machine lease writes only while that lease is still held: a command
/// that lost its lease (it ran too long without renewing, and another took over) records nothing.
package struct IntentJournal: Sendable {
    let redis: RedisClient
    let tenant: TenantID
    /// The lease key and token every write is checked against.
    var fence: (key: String, token: MachineLease.Token)?

    init(redis: RedisClient, tenant: TenantID) {
        self.redis = redis
        self.tenant = tenant
    }

    /// This journal, writing only while `token` holds `lease`.
    package func fenced(by lease: MachineLease, token: MachineLease.Token) -> IntentJournal {
        var journal = self
        journal.fence = (lease.key, token)
        return journal
    }

    /// The step name of `kind` within `operation`.
    package static func step(_ kind: MessageKind, operation: OperationID?) -> String {
        "\(kind.rawValue):\(operation?.rawValue ?? "-")"
    }

    /// The entry of `step` for `machine`, if any.
    package func entry(_ step: String, machine: MachineID) async throws(DriverError) -> JournalEntry? {
        let key = StoreKeys.journal(tenant, machine)
        let text: String?
        do {
            text = try await redis.hget(key, field: step)
        } catch {
            throw .providerUnavailable("status store (Redis): \(error)")
        }
        guard let text else { return nil }
        do {
            return try MessageCodec.decodeValue(JournalEntry.self, from: Data(text.utf8))
        } catch {
            throw .internal("journal \(key) field \(step) is unreadable: \(error)")
        }
    }

    /// Records `entry` for `step` of `machine`.
    package func record(_ entry: JournalEntry, step: String, machine: MachineID) async throws(DriverError) {
        let json: Data
        do {
            json = try MessageCodec.encodeValue(entry)
        } catch {
            throw .internal("cannot encode journal entry: \(error)")
        }
        let key = StoreKeys.journal(tenant, machine)
        do {
            if let fence {
                _ = try await redis.evaluate(
                    Self.fencedWrite, keys: [RedisArgument(fence.key), RedisArgument(key)],
                    arguments: [RedisArgument(fence.token.value), RedisArgument("HSET"), RedisArgument(step),
                                RedisArgument(bytes: Array(json))])
            } else {
                _ = try await redis.hset(key, fields: [step: RedisArgument(bytes: Array(json))])
            }
        } catch {
            throw Self.failure(error)
        }
    }

    /// Deletes `machine`'s journal (after it was removed: nothing of the machine may stay in Redis).
    package func forget(machine: MachineID) async throws(DriverError) {
        let key = StoreKeys.journal(tenant, machine)
        do {
            if let fence {
                _ = try await redis.evaluate(
                    Self.fencedWrite, keys: [RedisArgument(fence.key), RedisArgument(key)],
                    arguments: [RedisArgument(fence.token.value), RedisArgument("DEL")])
            } else {
                _ = try await redis.command("DEL", RedisArgument(key))
            }
        } catch {
            throw Self.failure(error)
        }
    }

    /// A lost lease is a conflict (the command must stop); anything else means Redis is away.
    private static func failure(_ error: RedisError) -> DriverError {
        if case .server(let message) = error, message.contains(lostLeaseMarker) {
            return .conflict("this command's lease on the machine was lost (another command took over); it stops here")
        }
        return .providerUnavailable("status store (Redis): \(error)")
    }

    private static let lostLeaseMarker = "PAZLEASELOST"

    /// `KEYS[1]` lease, `KEYS[2]` journal; `ARGV[1]` token, `ARGV[2]` `HSET` (field `ARGV[3]`,
    /// value `ARGV[4]`) or `DEL`: done only while the lease holds the token.
    static let fencedWrite = RedisScript("""
        if redis.call('GET', KEYS[1]) ~= ARGV[1] then return redis.error_reply('PAZLEASELOST the machine lease is gone') end
        if ARGV[2] == 'DEL' then return redis.call('DEL', KEYS[2]) end
        return redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
        """)

    /// Every step recorded for `machine`.
    package func entries(machine: MachineID) async throws(DriverError) -> [String: JournalEntry] {
        let hash: [String: String]
        do {
            hash = try await redis.hgetall(StoreKeys.journal(tenant, machine))
        } catch {
            throw .providerUnavailable("status store (Redis): \(error)")
        }
        var entries: [String: JournalEntry] = [:]
        for (step, text) in hash {
            entries[step] = try? MessageCodec.decodeValue(JournalEntry.self, from: Data(text.utf8))
        }
        return entries
    }
}
