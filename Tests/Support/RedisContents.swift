import PazRedis

/// Every key of a Redis server with its content as text (as its `default` user, with `password`
/// where the server requires one), for tests that look for what must not be there (a removed
/// cluster's ids, private keys, secrets).
package enum RedisContents {
    /// Key → its content (hash fields and values, string, set members, stream entries), plus, with
    /// `ttl`, the key's TTL in seconds.
    package static func all(port: Int, password: String? = nil) async throws -> [(key: String, content: String, ttl: Int)] {
        let redis = RedisClient(configuration: RedisConfiguration(host: "127.0.0.1", port: port, password: password))
        defer { Task { await redis.close() } }
        var entries: [(key: String, content: String, ttl: Int)] = []
        for key in try await redis.command("KEYS", "*").array?.compactMap(\.string) ?? [] {
            let content: String
            switch try await redis.command("TYPE", "\(key)").string {
            case "hash": content = try await redis.hgetall(key).map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            case "string": content = (try await redis.get(key)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            case "set": content = try await redis.smembers(key).joined(separator: " ")
            case "zset": content = text(try await redis.command("ZRANGE", "\(key)", "0", "-1"))
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
