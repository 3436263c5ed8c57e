import Logging
import NIOCore
import ServiceLifecycle
import Synchronization
import Systemd

/// Waits until every named component says it is ready. Cancellation ends the wait.
final class Readiness: Sendable {
    private let state: Mutex<(pending: Set<String>, waiters: [CheckedContinuation<Void, Never>])>

    init(_ components: Set<String>) {
        state = Mutex((components, []))
    }

    /// Whether every component said it is ready.
    var isReady: Bool { state.withLock { $0.pending.isEmpty } }

    func ready(_ component: String) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.pending.remove(component)
            guard state.pending.isEmpty else { return [] }
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once every component is ready, or when the task is cancelled.
    func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let now = state.withLock { state -> Bool in
                    if state.pending.isEmpty || Task.isCancelled { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }
}

/// Tells systemd how the daemon is doing (Type=notify): `READY=1` once every listener accepts,
/// a `STATUS=` line with live counts when they change (checked every few seconds, never per
/// message), `WATCHDOG=1` pings while every event loop still turns over, and `STOPPING=1` when
/// shutdown begins. Without systemd every notification is a no-op.
final class SystemdService: Service {
    private let readiness: Readiness
    private let hub: Hub
    private let logger: Logger
    static let statusInterval = Duration.seconds(2)

    init(readiness: Readiness, hub: Hub, logger: Logger) {
        self.readiness = readiness
        self.hub = hub
        self.logger = logger
    }

    func run() async throws {
        await readiness.wait()
        guard !Task.isCancelled else { return }
        let status = Self.status(hub)
        Systemd.notify("READY=1", "STATUS=\(status)")
        logger.info("ready", metadata: ["status": "\(status)"])
        let watchdog = Systemd.watchdogInterval
        if let watchdog { logger.info("systemd watchdog enabled", metadata: ["interval": "\(watchdog)"]) }

        await withGracefulShutdownHandler {
            await cancelWhenGracefulShutdown {
                await withDiscardingTaskGroup { group in
                    group.addTask { await self.reportStatus(after: status) }
                    if let watchdog {
                        group.addTask { await self.feedWatchdog(every: watchdog / 2) }
                    }
                }
            }
        } onGracefulShutdown: {
            Systemd.notify("STOPPING=1", "STATUS=Shutting down")
        }
    }

    /// "3 clients in 2 rooms" (with "; draining" while draining, and "; history degraded: why"
    /// while room lines cannot be kept).
    static func status(_ hub: Hub) -> String {
        let (clients, rooms) = hub.stats
        var text = "\(clients) \(clients == 1 ? "client" : "clients") in \(rooms) \(rooms == 1 ? "room" : "rooms")"
        if hub.draining != nil { text += "; draining" }
        let history = hub.historyState
        if history.hasPrefix("degraded") { text += "; history \(history)" }
        return text
    }

    private func reportStatus(after first: String) async {
        var last = first
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.statusInterval)
            let status = Self.status(hub)
            if status != last {
                Systemd.notify("STATUS=\(status)")
                last = status
            }
        }
    }

    /// Pings only after every loop has run a task since the last ping: a wedged loop stops the
    /// pings, and systemd restarts the daemon.
    private func feedWatchdog(every interval: Duration) async {
        while !Task.isCancelled {
            let turns = hub.shards.map { $0.eventLoop.submit {} }
            guard (try? await EventLoopFuture.andAllSucceed(turns, on: hub.shards[0].eventLoop).get()) != nil else { return }
            Systemd.notify("WATCHDOG=1")
            try? await Task.sleep(for: interval)
        }
    }
}
