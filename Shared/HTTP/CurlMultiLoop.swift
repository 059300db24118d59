import CCurl
import Foundation

/// One thread driving one libcurl multi handle: every transfer of a client runs on it, multiplexed.
///
/// Async callers hand transfers over with ``submit(_:)``; the thread adds them to the multi handle,
/// runs `curl_multi_perform`, completes finished transfers and sleeps in `curl_multi_poll`, which
/// `curl_multi_wakeup` (thread-safe by libcurl's documentation) interrupts when new work arrives.
///
/// `@unchecked Sendable`: `multi` is used only on the loop thread (and `curl_multi_wakeup` from any
/// thread while the lock is held and the loop has not exited, so the handle is alive); `active` is
/// touched only on the loop thread; `pending`, `cancellations`, `stopping` and `exitWaiters` only
/// while `lock` is held.
final class CurlMultiLoop: @unchecked Sendable {
    private let multi: UnsafeMutableRawPointer
    private let lock = NSLock()
    private var pending: [CurlTransfer] = []
    private var cancellations: [CurlTransfer] = []
    private var stopping = false
    private var exited = false
    private var exitWaiters: [CheckedContinuation<Void, Never>] = []
    private var active: [UnsafeMutableRawPointer: CurlTransfer] = [:]

    /// Starts the thread, named `name`. `maxConnectionsPerHost` 0 means unlimited.
    init(name: String, maxConnectionsPerHost: Int) throws(HTTPClientError) {
        try CurlGlobal.initialize()
        guard let multi = paz_curl_multi_init() else {
            throw .setupFailed("curl_multi_init failed (out of memory?)")
        }
        self.multi = multi
        if maxConnectionsPerHost > 0 {
            _ = paz_curl_multi_setopt_long(multi, CURLMOPT_MAX_HOST_CONNECTIONS, maxConnectionsPerHost)
        }
        let thread = Thread { [self] in
            CurlMultiLoop.nameCurrentThread(name)
            run()
        }
        thread.name = name
        thread.stackSize = 1 << 20
        thread.start()
    }

    deinit {
        paz_curl_multi_cleanup(multi)
    }

    /// Queues `transfer`; its `onComplete` runs on the loop thread. False once the loop is stopping.
    func submit(_ transfer: CurlTransfer) -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard !stopping else { return false }
        pending.append(transfer)
        paz_curl_multi_wakeup(multi)
        return true
    }

    /// Aborts `transfer` (queued or running); it completes with `.cancelled` unless it already finished.
    func cancel(_ transfer: CurlTransfer) {
        lock.lock()
        defer { lock.unlock() }
        transfer.cancelRequested = true
        guard !stopping else { return }
        cancellations.append(transfer)
        paz_curl_multi_wakeup(multi)
    }

    /// Fails every queued and running transfer with `.shutDown`, ends the thread and waits for it.
    func stop() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            lock.lock()
            defer { lock.unlock() }
            if exited {
                continuation.resume()
                return
            }
            exitWaiters.append(continuation)
            requestStopLocked()
        }
    }

    /// Asks the thread to end without waiting (for `deinit` of the owner).
    func requestStop() {
        lock.lock()
        defer { lock.unlock() }
        requestStopLocked()
    }

    private func requestStopLocked() {
        guard !stopping else { return }
        stopping = true
        paz_curl_multi_wakeup(multi)
    }

    // MARK: - Loop thread

    /// Gives the OS thread its name, as `top -H` and /proc show it (Linux keeps 15 bytes). Foundation's
    /// `Thread.name` does not reliably reach the OS thread on Linux (it races with thread start).
    private static func nameCurrentThread(_ name: String) {
        let osName = String(decoding: name.utf8.prefix(15), as: UTF8.self)
        try? osName.write(toFile: "/proc/thread-self/comm", atomically: false, encoding: .utf8)
    }

    private func run() {
        var running: Int32 = 0
        while true {
            lock.lock()
            let newTransfers = pending
            let cancelled = cancellations
            let stop = stopping
            let alreadyCancelled = newTransfers.map(\.cancelRequested)
            pending.removeAll()
            cancellations.removeAll()
            lock.unlock()

            if stop {
                for transfer in active.values {
                    paz_curl_multi_remove_handle(multi, transfer.handle)
                    transfer.complete(.shutDown)
                }
                active.removeAll()
                newTransfers.forEach { $0.complete(.shutDown) }
                break
            }
            for (transfer, isCancelled) in zip(newTransfers, alreadyCancelled) {
                if isCancelled {
                    transfer.complete(.cancelled)
                    continue
                }
                let code = paz_curl_multi_add_handle(multi, transfer.handle)
                guard code == CURLM_OK else {
                    let message = String(cString: paz_curl_multi_strerror(code))
                    transfer.complete(.failed(CurlFailure(code: Int(code.rawValue), message: message, detail: "curl_multi_add_handle", kind: .other)))
                    continue
                }
                active[transfer.handle] = transfer
            }
            for transfer in cancelled {
                guard active.removeValue(forKey: transfer.handle) != nil else { continue }
                paz_curl_multi_remove_handle(multi, transfer.handle)
                transfer.complete(.cancelled)
            }

            paz_curl_multi_perform(multi, &running)
            completeFinishedTransfers()
            // Sleeps until a socket is ready, libcurl's next timeout, a wakeup, or at most a second.
            paz_curl_multi_poll(multi, nil, 0, 1000, nil)
        }

        lock.lock()
        exited = true
        let waiters = exitWaiters
        exitWaiters.removeAll()
        lock.unlock()
        waiters.forEach { $0.resume() }
    }

    private func completeFinishedTransfers() {
        var remaining: Int32 = 0
        while let message = paz_curl_multi_info_read(multi, &remaining) {
            guard paz_curl_msg_is_done(message) != 0, let handle = message.pointee.easy_handle else { continue }
            let code = paz_curl_msg_result(message)
            guard let transfer = active.removeValue(forKey: handle) else { continue }
            // The message is invalid after remove_handle: everything needed was read above.
            paz_curl_multi_remove_handle(multi, handle)
            transfer.complete(transfer.outcome(code: code))
        }
    }
}

/// libcurl loaded (`dlopen`, on first use) and `curl_global_init` run, once per process, before
/// the first handle is made.
enum CurlGlobal {
    static func initialize() throws(HTTPClientError) {
        let result = paz_curl_global_init_default()
        guard result == CURLE_OK else {
            if let reason = paz_curl_load_error() {
                throw .setupFailed("libcurl could not be loaded (\(String(cString: reason))); install libcurl4")
            }
            throw .setupFailed("curl_global_init failed: \(String(cString: paz_curl_easy_strerror(result)))")
        }
    }
}
