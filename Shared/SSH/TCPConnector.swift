import Foundation

/// Opens a TCP connection with a deadline (non-blocking `connect` + `poll`).
enum TCPConnector {
    /// Returns a connected, non-blocking socket to `host:port` (name or address), trying each
    /// resolved address in turn; the last failure is thrown.
    static func connect(host: String, port: Int, deadline: OperationDeadline) throws(SSHError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let list else {
            throw .resolveFailed(host: host, reason: String(cString: gai_strerror(status)))
        }
        defer { freeaddrinfo(list) }
        var lastError = SSHError.resolveFailed(host: host, reason: "no addresses")
        var entry: UnsafeMutablePointer<addrinfo>? = list
        while let current = entry {
            do {
                return try connect(current.pointee, host: host, port: port, deadline: deadline)
            } catch {
                lastError = error
                if case .timedOut = error { throw error }
            }
            entry = current.pointee.ai_next
        }
        throw lastError
    }

    private static func connect(_ address: addrinfo, host: String, port: Int, deadline: OperationDeadline) throws(SSHError) -> Int32 {
        let fd = socket(address.ai_family, address.ai_socktype, address.ai_protocol)
        guard fd >= 0 else { throw failure(host, port, errno) }
        var keep = false
        defer { if !keep { close(fd) } }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        if Foundation.connect(fd, address.ai_addr, address.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { throw failure(host, port, errno) }
            while true {
                let remaining = deadline.instant - .now
                guard remaining > .zero else {
                    throw .timedOut(operation: deadline.operation, host: host, port: port, after: deadline.limit)
                }
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                let milliseconds = Int32(clamping: remaining.milliseconds + 1)
                if poll(&descriptor, 1, milliseconds) > 0 { break }
            }
            var socketError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            _ = getsockopt(fd, SOL_SOCKET, SO_ERROR, &socketError, &length)
            guard socketError == 0 else { throw failure(host, port, socketError) }
        }
        keep = true
        return fd
    }

    private static func failure(_ host: String, _ port: Int, _ code: Int32) -> SSHError {
        if code == ECONNREFUSED { return .connectionRefused(host: host, port: port) }
        return .connectFailed(host: host, port: port, errno: code, reason: String(cString: strerror(code)))
    }
}
