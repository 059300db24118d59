import Logging

/// A Lua script, identified by the SHA1 of its source as Redis's script cache does.
///
/// Run it with ``RedisClient/evaluate(_:keys:arguments:idempotent:)``: it sends `EVALSHA`, and when
/// the server does not know the script (`NOSCRIPT`: after a restart or `SCRIPT FLUSH`), loads it with
/// `SCRIPT LOAD` and sends `EVALSHA` again.
package struct RedisScript: Sendable, Hashable {
    /// The Lua source.
    package let source: String
    /// The lowercase hex SHA1 of ``source`` (what `SCRIPT LOAD` returns).
    package let sha1: String

    /// A script with `source`; its SHA1 is computed here.
    package init(_ source: String) {
        self.source = source
        self.sha1 = SHA1.hexDigest(Array(source.utf8))
    }
}

extension RedisClient {
    /// Runs `script` with `EVALSHA`, loading it first if the server's script cache lacks it.
    ///
    /// An error raised by the script is thrown as ``RedisError/server(_:)``. `idempotent` is passed
    /// to ``command(_:idempotent:)`` (re-send after a dropped connection).
    @discardableResult
    package func evaluate(
        _ script: RedisScript, keys: [RedisArgument] = [], arguments: [RedisArgument] = [], idempotent: Bool = false
    ) async throws(RedisError) -> RedisValue {
        let evalsha: [RedisArgument] = ["EVALSHA", RedisArgument(script.sha1), RedisArgument(keys.count)] + keys + arguments
        do {
            return try await command(evalsha, idempotent: idempotent)
        } catch {
            guard error.serverErrorCode == "NOSCRIPT" else { throw error }
        }
        logger.debug("Lua script not in the server's cache; loading it", metadata: ["redis.script": "\(script.sha1)"])
        let loaded = try await command(["SCRIPT", "LOAD", RedisArgument(script.source)], idempotent: true)
        guard loaded.string == script.sha1 else {
            throw .protocolError("SCRIPT LOAD returned \(loaded) but the script's SHA1 is \(script.sha1)")
        }
        return try await command(evalsha, idempotent: idempotent)
    }
}

/// SHA1 (FIPS 180-4), only to name Lua scripts as Redis does — not for security.
enum SHA1 {
    static func hexDigest(_ message: [UInt8]) -> String {
        var h: [UInt32] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0]
        var data = message
        data.append(0x80)
        while data.count % 64 != 56 { data.append(0) }
        let bitLength = UInt64(message.count) * 8
        for shift in stride(from: 56, through: 0, by: -8) { data.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift))) }
        var w = [UInt32](repeating: 0, count: 80)
        for chunk in stride(from: 0, to: data.count, by: 64) {
            for i in 0..<16 {
                let j = chunk + i * 4
                w[i] = UInt32(data[j]) << 24 | UInt32(data[j + 1]) << 16 | UInt32(data[j + 2]) << 8 | UInt32(data[j + 3])
            }
            for i in 16..<80 { w[i] = rotate(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1) }
            var (a, b, c, d, e) = (h[0], h[1], h[2], h[3], h[4])
            for i in 0..<80 {
                let (f, k): (UInt32, UInt32) = switch i {
                case 0..<20: ((b & c) | (~b & d), 0x5A82_7999)
                case 20..<40: (b ^ c ^ d, 0x6ED9_EBA1)
                case 40..<60: ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC)
                default: (b ^ c ^ d, 0xCA62_C1D6)
                }
                let temp = rotate(a, 5) &+ f &+ e &+ k &+ w[i]
                (e, d, c, b, a) = (d, c, rotate(b, 30), a, temp)
            }
            h[0] &+= a; h[1] &+= b; h[2] &+= c; h[3] &+= d; h[4] &+= e
        }
        return h.map { word in
            let hex = String(word, radix: 16)
            return String(repeating: "0", count: 8 - hex.count) + hex
        }.joined()
    }

    private static func rotate(_ value: UInt32, _ count: UInt32) -> UInt32 {
        value << count | value >> (32 - count)
    }
}
