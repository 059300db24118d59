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

    /// `words` random words as lowercase hex, 16 digits each.
    package mutating func hex(words: Int) -> String {
        (0..<words).map { _ in
            let digits = String(next(), radix: 16)
            return String(repeating: "0", count: 16 - digits.count) + digits
        }.joined()
    }
}
