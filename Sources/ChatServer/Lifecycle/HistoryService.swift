import ChatCore
import ChatStore
import Logging
import ServiceLifecycle
import Synchronization

/// Runs the history writer until graceful shutdown. It is the first service of the group, so it
/// stops last: once the chat has closed every client, what is left is written, then the store
/// is closed. Everything relayed before a stop (SIGTERM, `systemctl stop`, `chatctl drain`) is on
/// disk before chatd exits.
final class HistoryService: Service {
    let writer: HistoryWriter
    private let store: any HistoryStore
    private let retention: HistoryRetention
    private let logger: Logger
    /// Told the age cutoff after each pruning, so the scrollback in memory drops what the store
    /// did (set once the hub exists).
    let pruned = Mutex<(@Sendable (Timestamp) -> Void)?>(nil)

    /// How often retention runs (it also runs at start, before anything is replayed).
    static let retentionInterval = Duration.seconds(3600)

    init(writer: HistoryWriter, store: any HistoryStore, retention: HistoryRetention, logger: Logger) {
        self.writer = writer
        self.store = store
        self.retention = retention
        self.logger = logger
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.writer.run() }
                if !self.retention.isUnlimited {
                    group.addTask {
                        while (try? await Task.sleep(for: Self.retentionInterval)) != nil { await self.applyRetention() }
                    }
                }
            }
        }
        // Closed even when the service group is cancelled (a failed start): an open store's
        // file would be left half-closed.
        let store = self.store
        do {
            try await Task.detached { try await store.close() }.value
        } catch {
            logger.error("could not close the history store", metadata: ["error": "\(error)"])
        }
        logger.info("history written", metadata: ["lines": "\(writer.written)", "dropped": "\(writer.dropped)"])
    }

    /// Removes what retention no longer keeps, from the store and from the scrollback.
    func applyRetention() async {
        let now = Timestamp.now()
        do {
            let removed = try await writer.prune(retention, at: now)
            if let cutoff = retention.cutoff(at: now) { pruned.withLock { $0 }?(cutoff) }
            if removed > 0 { logger.notice("history retention", metadata: ["removed": "\(removed)"]) }
        } catch {
            logger.error("history retention failed", metadata: ["error": "\(error)"])
        }
    }

    /// What opening history came to: the service and writer (nil when off or degraded), the
    /// newest event id kept, each room's scrollback and topic, and why history is degraded, if
    /// it is.
    typealias Opened = (
        service: HistoryService?, writer: HistoryWriter?, newestID: UInt64, scrollback: [HistoryRecord], topics: [StoredTopic],
        accounts: [String], problem: String?
    )

    /// Opens the store `config.history` names and a writer for it. Nil with history off. A
    /// newer file stops chatd (`StartupError`, exit 78); a store that cannot be opened leaves
    /// chat running without history, degraded.
    static func open(
        _ config: Config, stateDirectory: String, logger: Logger
    ) async throws -> Opened {
        guard config.history.enabled else { return (nil, nil, 0, [], [], [], nil) }
        let path = Paths.history(configured: config.history.path, stateDirectory: stateDirectory)
        let store: SQLiteHistoryStore
        do {
            store = try await SQLiteHistoryStore.open(path: path, logger: logger)
        } catch let error as HistoryStoreError {
            if case .newerSchema = error { throw StartupError(error.description, exitCode: 78) }
            return degraded(error.description, logger)
        }
        do {
            // Retention first, so nothing past it is replayed.
            let writer = HistoryWriter(store: store, flushInterval: .milliseconds(config.history.flushIntervalMs), logger: logger)
            let pruned = try await writer.prune(config.history.retention, at: Timestamp.now())
            let newest = try await store.newestID()
            let scrollback = try await store.newestLines(perRoom: config.history.scrollbackLines)
            let topics = try await store.topics()
            let accounts = try await store.accountNames()
            logger.info(
                "history",
                metadata: [
                    "path": "\(path)", "newestEvent": "\(newest)", "scrollbackLines": "\(scrollback.count)", "topics": "\(topics.count)",
                    "pruned": "\(pruned)", "accounts": "\(accounts.count)",
                ])
            let service = HistoryService(writer: writer, store: store, retention: config.history.retention, logger: logger)
            return (service, writer, newest, scrollback, topics, accounts, nil)
        } catch {
            try? await store.close()
            return degraded("\(path): cannot be read (\(error))", logger)
        }
    }

    private static func degraded(
        _ problem: String, _ logger: Logger
    ) -> Opened {
        logger.error("history degraded: room lines will not be kept", metadata: ["error": "\(problem)"])
        return (nil, nil, 0, [], [], [], problem)
    }
}
