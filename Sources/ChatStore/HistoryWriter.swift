import ChatCore
import Logging
import Synchronization

/// Takes room lines as they are relayed and writes them in batches (group commit), on a task of
/// its own: `record` is a short lock and an append, safe to call from an event loop or under
/// the hub's lock; the store is only ever called from `run`.
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

    private struct Pending {
        var lines: [HistoryRecord] = []
        var state = State.healthy
        var dropped = 0
        var written = 0
        var finishing = false
    }

    /// The store it writes to (readers flush first, to see every line relayed so far).
    public let store: any HistoryStore
    private let interval: Duration
    /// At most this many lines wait; past it (the store is stuck) the oldest are dropped.
    private let maxPending: Int
    private let logger: Logger
    private let pending = Mutex(Pending())

    public init(store: any HistoryStore, flushInterval: Duration, maxPending: Int = 100_000, logger: Logger) {
        self.store = store
        self.interval = flushInterval
        self.maxPending = maxPending
        self.logger = logger
    }

    /// Queues a line for the next batch.
    public func record(_ line: HistoryRecord) {
        pending.withLock { pending in
            if pending.lines.count >= maxPending {
                pending.lines.removeFirst()
                pending.dropped += 1
            }
            pending.lines.append(line)
        }
    }

    public var state: State { pending.withLock { $0.state } }
    /// Lines lost to a failing or stuck store since start.
    public var dropped: Int { pending.withLock { $0.dropped } }
    /// Lines written since start.
    public var written: Int { pending.withLock { $0.written } }

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

    /// Writes what is waiting now, as one transaction.
    public func flush() async {
        let batch = pending.withLock { pending in
            let batch = pending.lines
            pending.lines.removeAll(keepingCapacity: true)
            return batch
        }
        guard !batch.isEmpty else { return }
        do {
            try await store.append(batch)
            let recovered = pending.withLock { pending in
                pending.written += batch.count
                defer { pending.state = .healthy }
                return pending.state != .healthy
            }
            if recovered { logger.notice("history is written again") }
        } catch {
            let reason = "\(error)"
            let first = pending.withLock { pending in
                pending.dropped += batch.count
                defer { pending.state = .degraded(reason) }
                return pending.state == .healthy
            }
            if first {
                logger.error("history degraded: lines are not kept until the store accepts writes", metadata: ["error": "\(reason)"])
            }
        }
    }
}
