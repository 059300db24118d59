import Synchronization
package import Foundation

/// Loopback port helpers for local servers. Everything here binds and connects to 127.0.0.0/8 only.
package enum LoopbackNetwork {
    /// Ports this process was handed already: servers started at once (one test run starts many)
    /// must never be given the same port, even when the kernel offers it again before either binds.
    private static let handedOut = Mutex<Set<Int>>([])

    /// A free TCP port on `host` (a 127.x.y.z address), never one this process was handed before.
    ///
    /// Picked at random below the kernel's ephemeral range (`net.ipv4.ip_local_port_range`): the
    /// kernel gives ports of that range to every outgoing connection and `bind(:0)` on the machine, so
    /// a port from it could be taken by some client's connection between the pick and the server's
    /// bind (CI saw RabbitMQ fail with `eaddrinuse`). Below the range only another explicit pick can
    /// collide. Falls back to a kernel-chosen port when the range leaves no room below it.
    package static func freePort(host: String = "127.0.0.1") throws(LocalServerError) -> Int {
        if let candidates = pickableRange() {
            for _ in 0..<256 {
                let port = Int.random(in: candidates)
                guard handedOut.withLock({ !$0.contains(port) }), try isBindable(host: host, port: port),
                    handedOut.withLock({ $0.insert(port).inserted })
                else { continue }
                return port
            }
        }
        for _ in 0..<64 {
            let port = try kernelFreePort(host: host)
            if handedOut.withLock({ $0.insert(port).inserted }) { return port }
        }
        throw .filesystem("no free port on \(host) that was not handed out already")
    }

    /// Ports from 20000 up to the start of the kernel's ephemeral range; nil when that leaves fewer
    /// than 2,000.
    private static func pickableRange() -> ClosedRange<Int>? {
        let text = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let low = text.split(whereSeparator: \.isWhitespace).first.flatMap { Int($0) } ?? 32768
        return low - 20000 >= 2000 ? 20000...(low - 1) : nil
    }

    /// True when `host:port` can be bound right now (nothing listens there, nothing lingers).
    private static func isBindable(host: String, port: Int) throws(LocalServerError) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .filesystem("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = try socketAddress(host: host, port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// Asks the kernel for a free TCP port on `host`.
    private static func kernelFreePort(host: String) throws(LocalServerError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw .filesystem("socket() failed: errno \(errno)") }
        defer { close(fd) }
        var address = try socketAddress(host: host, port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw .filesystem("bind(\(host):0) failed: errno \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// True when a TCP connection to `host:port` succeeds right now.
    package static func canConnect(host: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard var address = try? socketAddress(host: host, port: port) else { return false }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        return result == 0
    }

    /// Polls until `host:port` accepts connections or `timeout` passes.
    package static func waitUntilListening(
        host: String, port: Int, timeout: Duration, whileRunning process: ManagedProcess? = nil, server: String
    ) async throws(LocalServerError) {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if canConnect(host: host, port: port) { return }
            if let process, !process.isRunning { break }
            try? await Task.sleep(for: .milliseconds(50))
        }
        throw .notReady(server: server, address: "\(host):\(port)", logTail: process?.logTail() ?? "")
    }

    private static func socketAddress(host: String, port: Int) throws(LocalServerError) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1, host.hasPrefix("127.") else {
            throw .filesystem("\(host) is not a loopback IPv4 address")
        }
        return address
    }
}

/// A private directory for one server's data and logs.
package enum ScratchDirectory {
    /// Creates a new directory under the system temp dir, named after `prefix`.
    package static func make(prefix: String) throws(LocalServerError) -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(getpid())-\(UUID().uuidString.prefix(8))")
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw .filesystem("could not create \(url.path): \(error)")
        }
        return url
    }
}
