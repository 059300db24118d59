import Foundation
import PazRedis

/// Every key of a local stack's Redis (`data`: its data directory) with its content as text, for tests that look for what must not be
/// there (a removed cluster's ids, private keys).
enum RedisContents {
    /// Key → its content (hash fields and values, string, set members, stream entries), plus, with
    /// `ttl`, the key's TTL in seconds.
    static func all(data: URL, port: Int) async throws -> [(key: String, content: String, ttl: Int)] {
        let redis = try StackAdmin.redis(data: data, port: port)
        defer { Task { await redis.close() } }
        var entries: [(key: String, content: String, ttl: Int)] = []
        for key in try await redis.command("KEYS", "*").array?.compactMap(\.string) ?? [] {
            let content: String
            switch try await redis.command("TYPE", "\(key)").string {
            case "hash": content = try await redis.hgetall(key).map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            case "string": content = (try await redis.get(key)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            case "set": content = try await redis.smembers(key).joined(separator: " ")
            case "stream": content = text(try await redis.command("XRANGE", "\(key)", "-", "+"))
            default: content = "\(try await redis.command("DUMP", "\(key)"))"
            }
            entries.append((key, content, try await redis.ttl(key)))
        }
        return entries
    }

    /// The strings of a (nested) reply, space-separated.
    private static func text(_ value: RedisValue) -> String {
        value.string ?? (value.array ?? []).map(text).joined(separator: " ")
    }
}
