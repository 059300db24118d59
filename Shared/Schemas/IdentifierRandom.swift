import Glibc
import Synchronization

/// Random words for identifiers (ULIDs, trace and span ids, version tokens): the kernel's CSPRNG
/// (`/dev/urandom`), drawn 4 KiB at a time. A create makes a dozen ids; one
/// `getrandom` call each cost more than the rest of their making. Not for keys, nonces or tokens:
/// those take `SystemRandomNumberGenerator` (or swift-crypto) directly.
package struct IdentifierRandom: RandomNumberGenerator {
    private static let pool = Mutex(Pool())

    private struct Pool: ~Copyable {
        var words = [UInt64](repeating: 0, count: 512)
        var next = 512

        mutating func take() -> UInt64 {
            if next == words.count {
                refill()
                next = 0
            }
            defer { next += 1 }
            return words[next]
        }

        /// One read of the kernel's CSPRNG (`/dev/urandom`, which never blocks once the system
        /// booted) for the whole pool; word by word from `getrandom` if that fails.
        private mutating func refill() {
            let filled = words.withUnsafeMutableBytes { buffer in
                let device = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
                guard device >= 0 else { return false }
                defer { close(device) }
                var offset = 0
                while offset < buffer.count {
                    let count = read(device, buffer.baseAddress! + offset, buffer.count - offset)
                    if count < 0 && errno == EINTR { continue }
                    guard count > 0 else { return false }
                    offset += count
                }
                return true
            }
            guard !filled else { return }
            var system = SystemRandomNumberGenerator()
            for index in words.indices { words[index] = system.next() }
        }
    }

    package init() {}

    package mutating func next() -> UInt64 {
        Self.pool.withLock { $0.take() }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// `words` random words as lowercase hex, 16 digits each (written into the string's own
    /// storage: every message carries two such ids).
    package mutating func hex(words: Int) -> String {
        String(unsafeUninitializedCapacity: words * 16) { text in
            for word in 0..<words {
                let value = next()
                for digit in 0..<16 {
                    text[word * 16 + digit] = Self.hexDigits[Int((value >> UInt64(60 - 4 * digit)) & 0xF)]
                }
            }
            return words * 16
        }
    }
}
