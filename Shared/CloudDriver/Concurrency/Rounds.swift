package import PazDriverKit

/// Calls that arrive while a round of the same key is running share the next round: one provider
/// request for many callers, and every caller's answer comes from a round that started after its
/// call (so it reflects what the caller did before). The EC2 driver terminates the instances of many
/// concurrent removals with one `TerminateInstances`; the cloud drivers look at the servers many
/// creates wait for with one listing; both check a cluster for servers left once for all the
/// removals that finish together.
package actor Rounds<Key: Hashable & Sendable, Item: Hashable & Sendable, Output: Sendable> {
    /// The work of one round: every item's output (an item missing from the answer is an error).
    package typealias Work = @Sendable ([Item]) async throws(DriverError) -> [Item: Output]

    private struct Caller {
        var item: Item
        var work: Work
        var continuation: CheckedContinuation<Result<Output, DriverError>, Never>
    }

    private var waiting: [Key: [Caller]] = [:]
    private var running: Set<Key> = []

    package init() {}

    /// `item`'s output from the next round of `key` (`work` runs that round unless a caller before
    /// this one brought the work of the round already).
    package func submit(_ item: Item, key: Key, work: @escaping Work) async throws(DriverError) -> Output {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<Output, DriverError>, Never>) in
            waiting[key, default: []].append(Caller(item: item, work: work, continuation: continuation))
            if !running.contains(key) { startRound(key) }
        }
        return try result.get()
    }

    private func startRound(_ key: Key) {
        guard let callers = waiting.removeValue(forKey: key), let first = callers.first else { return }
        running.insert(key)
        var items: [Item] = []
        for caller in callers where !items.contains(caller.item) { items.append(caller.item) }
        let work = first.work
        let batch = items
        Task {
            let outcome: Result<[Item: Output], DriverError>
            do throws(DriverError) {
                outcome = .success(try await work(batch))
            } catch {
                outcome = .failure(error)
            }
            self.finish(key, callers: callers, outcome: outcome)
        }
    }

    private func finish(_ key: Key, callers: [Caller], outcome: Result<[Item: Output], DriverError>) {
        for caller in callers {
            caller.continuation.resume(returning: outcome.flatMap { outputs in
                outputs[caller.item].map { .success($0) } ?? .failure(.internal("the batched call returned nothing for \(caller.item)"))
            })
        }
        running.remove(key)
        if waiting[key]?.isEmpty == false { startRound(key) }
    }
}
