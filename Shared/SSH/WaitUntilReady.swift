package import Logging

extension SSHSession {
    /// The least time an attempt gets; with less left, waiting ends with the last real error.
    static let minimumAttempt = Duration.milliseconds(500)

    /// Waits until `host:port` answers SSH: connects, authenticates and runs `true`, retrying with
    /// bounded exponential backoff (0.1 s doubling to 2 s) until `deadline`.
    ///
    /// Returns the presented host key on success. A host-key mismatch or an unusable key stops at
    /// once; at the deadline it throws ``SSHError/notReady(host:port:attempts:waited:lastError:)``
    /// carrying the last real error (connection refused, authentication failed, timeout…); it stops
    /// the same way, early, when the task is cancelled.
    @discardableResult
    package static func waitUntilReady(
        host: String,
        port: Int = 22,
        hostKeyPolicy: SSHHostKeyPolicy,
        credentials: SSHCredentials,
        deadline: ContinuousClock.Instant,
        connectTimeout: Duration = .seconds(5),
        logger: Logger = Logger(label: "paz.ssh")
    ) async throws(SSHError) -> SSHPublicKey {
        let start = ContinuousClock.now
        var backoff = Duration.milliseconds(100)
        var attempts = 0
        // The last refusal sshd itself gave (a host key other than expected, a refused login): a
        // timeout after it, on a loaded machine, says less and must not hide it.
        var lastAnswer: SSHError?
        while true {
            attempts += 1
            let remaining = deadline - .now
            let lastError: SSHError
            do throws(SSHError) {
                let attemptLimit = min(connectTimeout, max(remaining, .milliseconds(100)))
                let timeouts = Timeouts(connect: attemptLimit, operation: attemptLimit)
                let session = try await connect(host: host, port: port, hostKeyPolicy: hostKeyPolicy,
                                                credentials: credentials, timeouts: timeouts, logger: logger)
                do throws(SSHError) {
                    _ = try await session.exec("true")
                } catch {
                    await session.close()
                    throw error
                }
                await session.close()
                logger.info("SSH is ready", metadata: [
                    "ssh.host": "\(host)", "ssh.port": "\(port)", "ssh.attempts": "\(attempts)",
                    "ssh.hostKey": "\(session.hostKey.description)",
                ])
                return session.hostKey
            } catch {
                guard error.isRetriable else { throw error }
                lastError = error
                switch error {
                case .hostKeyMismatch, .authenticationFailed: lastAnswer = error
                case .timedOut: break
                default: lastAnswer = nil
                }
            }
            let now = ContinuousClock.now
            // An attempt with less than `minimumAttempt` left could only time out, and that timeout
            // would hide the last real error (a refused key, a refused connection).
            guard deadline - now >= Self.minimumAttempt, !Task.isCancelled else {
                throw .notReady(host: host, port: port, attempts: attempts, waited: now - start, lastError: lastAnswer ?? lastError)
            }
            logger.debug("SSH not ready yet", metadata: [
                "ssh.host": "\(host)", "ssh.port": "\(port)", "error": "\(lastError)",
            ])
            try? await Task.sleep(for: min(backoff, deadline - now - Self.minimumAttempt))
            backoff = min(backoff * 2, .seconds(2))
        }
    }
}
