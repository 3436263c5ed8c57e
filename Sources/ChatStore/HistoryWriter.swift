import ChatCore
import Logging
import Synchronization

/// Takes room lines, topics and purges as they happen and writes them in order, in batches
/// (group commit), on a task of its own: `record` is a short lock and an append, safe to call
/// from an event loop or under the hub's lock. The store is only ever called one caller at a
/// time (`withStore`): one SQLite connection cannot hold two transactions.
///
/// Chat never waits for the disk. When the store fails (full, read-only, corrupt), the writer
/// says so once (`state`, for systemd's STATUS= and `chatctl stats`), counts the lines it drops,
/// and keeps trying each interval; it recovers by itself when the store accepts a batch again.
public final class HistoryWriter: Sendable {
    public enum State: Equatable, Sendable {
        case healthy
        /// The last batch could not be written, and why.
        case degraded(String)
    }

    /// One thing to write, in the order the directory did it.
    public enum Change: Sendable {
        case line(HistoryRecord)
        case topic(StoredTopic)
        /// Removes lines; `done` is told how many, or why it failed.
        case purge(HistoryPurge, done: @Sendable (Result<Int, any Error>) -> Void)
    }

    private struct Pending {
        var changes: [Change] = []
        var lines = 0
        var state = State.healthy
        var dropped = 0
        var written = 0
    }

    /// The store it writes to. Call it through `withStore`.
    private let store: any HistoryStore
    private let interval: Duration
    /// At most this many lines wait; past it (the store is stuck) new ones are dropped.
    private let maxPending: Int
    private let logger: Logger
    private let pending = Mutex(Pending())
    private let exclusion = AsyncExclusion()

    public init(store: any HistoryStore, flushInterval: Duration, maxPending: Int = 100_000, logger: Logger) {
        self.store = store
        self.interval = flushInterval
        self.maxPending = maxPending
        self.logger = logger
    }

    /// Queues a line for the next batch.
    public func record(_ line: HistoryRecord) {
        pending.withLock { pending in
            guard pending.lines < maxPending else {
                pending.dropped += 1
                return
            }
            pending.lines += 1
            pending.changes.append(.line(line))
        }
    }

    /// Queues a topic change or a purge, after everything queued before it.
    public func record(_ change: Change) {
        pending.withLock { $0.changes.append(change) }
    }

    public var state: State { pending.withLock { $0.state } }
    /// Lines lost to a failing or stuck store since start.
    public var dropped: Int { pending.withLock { $0.dropped } }
    /// Lines written since start.
    public var written: Int { pending.withLock { $0.written } }
    /// Lines waiting for the next batch.
    public var backlog: Int { pending.withLock { $0.lines } }
    /// Told how long each batch took to commit (the metrics' histogram, when metrics are on).
    public let onCommit = Mutex<(@Sendable (Duration) -> Void)?>(nil)

    /// Writes a batch every interval until cancelled; then writes what is left, once, so
    /// everything relayed before a stop is on disk (when the store takes it).
    public func run() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await flush()
        }
        // Not cancelled with this task: the last lines must still reach the disk.
        await Task.detached { await self.flush() }.value
    }

    /// Writes everything queued so far.
    public func flush() async {
        await exclusion.run { await self.writeQueued() }
    }

    /// Runs `body` on the store alone, after writing everything queued so far (so a reader sees
    /// every line relayed before it asked).
    public func withStore<T: Sendable>(_ body: @Sendable (any HistoryStore) async throws -> T) async throws -> T {
        try await exclusion.run {
            await self.writeQueued()
            return try await body(self.store)
        }
    }

    /// Runs `body` on the store alone, without writing what is queued first.
    func withStoreAlone<T: Sendable>(_ body: @Sendable (any HistoryStore) async throws -> T) async throws -> T {
        try await exclusion.run { try await body(self.store) }
    }

    /// Removes what `retention` no longer keeps, a few thousand lines at a time so that writes
    /// go on between; returns how many lines went.
    public func prune(_ retention: HistoryRetention, at now: Timestamp, chunk: Int = 5_000) async throws -> Int {
        guard !retention.isUnlimited else { return 0 }
        var total = 0
        while true {
            let removed = try await withStoreAlone { try await $0.prune(retention, at: now, limit: chunk) }
            total += removed
            if removed < chunk { return total }
        }
    }

    /// Writes the queue in order: runs of lines as one transaction each, then each topic or
    /// purge where it stood. Called only inside the exclusion.
    private func writeQueued() async {
        let changes = pending.withLock { pending in
            defer {
                pending.changes.removeAll(keepingCapacity: true)
                pending.lines = 0
            }
            return pending.changes
        }
        var lines: [HistoryRecord] = []
        for change in changes {
            switch change {
            case .line(let line):
                lines.append(line)
            case .topic(let topic):
                await write(&lines)
                await attempt(lines: 0) { try await $0.setTopic(topic) }
            case .purge(let purge, let done):
                await write(&lines)
                do {
                    done(.success(try await store.purge(purge)))
                } catch {
                    done(.failure(error))
                }
            }
        }
        await write(&lines)
    }

    private func write(_ lines: inout [HistoryRecord]) async {
        guard !lines.isEmpty else { return }
        let batch = lines
        lines.removeAll(keepingCapacity: true)
        let start = ContinuousClock.now
        await attempt(lines: batch.count) { try await $0.append(batch) }
        let took = ContinuousClock.now - start
        onCommit.withLock { $0 }?(took)
    }

    /// Carries out one write, keeping the state: degraded on the first failure (logged once),
    /// healthy again on the next success.
    private func attempt(lines: Int, _ write: (any HistoryStore) async throws -> Void) async {
        do {
            try await write(store)
            let recovered = pending.withLock { pending in
                pending.written += lines
                defer { pending.state = .healthy }
                return pending.state != .healthy
            }
            if recovered { logger.notice("history is written again") }
        } catch {
            let reason = "\(error)"
            let first = pending.withLock { pending in
                pending.dropped += max(lines, 1)
                defer { pending.state = .degraded(reason) }
                return pending.state == .healthy
            }
            if first {
                logger.error("history degraded: lines are not kept until the store accepts writes", metadata: ["error": "\(reason)"])
            }
        }
    }
}

/// One caller at a time, in the order they came, without blocking a thread while waiting.
final class AsyncExclusion: Sendable {
    private struct State {
        var busy = false
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func run<T: Sendable>(_ body: @Sendable () async throws -> T) async rethrows -> T {
        await withCheckedContinuation { (waiter: CheckedContinuation<Void, Never>) in
            let enter = state.withLock { state in
                guard state.busy else {
                    state.busy = true
                    return true
                }
                state.waiting.append(waiter)
                return false
            }
            if enter { waiter.resume() }
        }
        defer {
            // Hands over to the next caller (still busy), or frees it.
            let next = state.withLock { state in
                guard !state.waiting.isEmpty else {
                    state.busy = false
                    return nil as CheckedContinuation<Void, Never>?
                }
                return state.waiting.removeFirst()
            }
            next?.resume()
        }
        return try await body()
    }
}
