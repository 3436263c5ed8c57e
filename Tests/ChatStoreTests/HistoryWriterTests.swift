import ChatCore
import Logging
import Synchronization
import Testing

@testable import ChatStore

/// A store that keeps batches in memory and fails while told to.
final class FakeStore: HistoryStore {
    let batches = Mutex<[[HistoryRecord]]>([])
    let failing = Mutex<String?>(nil)

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// What was done, in order (`lines 1-5`, `topic #a`, `purge`).
    let log = Mutex<[String]>([])
    /// Calls inside the store right now, and the most at once.
    let inside = Mutex((now: 0, most: 0))

    /// Counts a call as inside the store while it suspends, as a real store's calls do.
    func visit() async {
        inside.withLock {
            $0.now += 1
            $0.most = max($0.most, $0.now)
        }
        await Task.yield()
        await Task.yield()
        inside.withLock { $0.now -= 1 }
    }

    func append(_ records: [HistoryRecord]) async throws {
        await visit()
        if let reason = failing.withLock({ $0 }) { throw Failure(description: reason) }
        batches.withLock { $0.append(records) }
        log.withLock { $0.append("lines \(records.first!.id)-\(records.last!.id)") }
    }
    func lines(roomKey: String, after: UInt64?, before: UInt64?, limit: Int) async throws -> [HistoryRecord] {
        await visit()
        return []
    }
    func setTopic(_ topic: StoredTopic) async throws {
        await visit()
        log.withLock { $0.append("topic \(topic.roomKey)") }
    }
    func topics() async throws -> [StoredTopic] { [] }
    func purge(_ purge: HistoryPurge) async throws -> Int {
        await visit()
        log.withLock { $0.append("purge") }
        return 3
    }
    func prune(_ retention: HistoryRetention, at now: Timestamp, limit: Int) async throws -> Int { 0 }
    func newestLines(perRoom limit: Int) async throws -> [HistoryRecord] { [] }
    func backup(to path: String) async throws {}
    func newestID() async throws -> UInt64 { 0 }
    func close() async throws {}
}

@Suite("the history writer")
struct HistoryWriterTests {
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    func line(_ id: UInt64) -> HistoryRecord {
        HistoryRecord(
            id: id, time: Timestamp(milliseconds: 0), room: "#lobby", roomKey: "#lobby", from: "a", text: "\(id)", isAction: false)
    }

    @Test("lines queued between flushes are written together, in order, as one batch")
    func groupCommit() async {
        let store = FakeStore()
        let writer = HistoryWriter(store: store, flushInterval: .milliseconds(50), logger: logger)
        for id in 1...5 { writer.record(line(UInt64(id))) }
        await writer.flush()
        writer.record(line(6))
        await writer.flush()
        await writer.flush()  // nothing waiting: no empty transaction
        #expect(store.batches.withLock { $0.map { $0.map(\.id) } } == [[1, 2, 3, 4, 5], [6]])
        #expect(writer.written == 6 && writer.dropped == 0 && writer.state == .healthy)
    }

    @Test("a failing store degrades history, counts what is dropped, and recovers by itself; chat never waits")
    func degraded() async {
        let store = FakeStore()
        let writer = HistoryWriter(store: store, flushInterval: .milliseconds(50), maxPending: 3, logger: logger)
        store.failing.withLock { $0 = "disk I/O error" }
        writer.record(line(1))
        writer.record(line(2))
        await writer.flush()
        #expect(writer.state == .degraded("disk I/O error") && writer.dropped == 2)
        for id in 3...7 { writer.record(line(UInt64(id))) }  // the queue holds 3: the newest 2 go
        #expect(writer.dropped == 4)
        store.failing.withLock { $0 = nil }
        await writer.flush()
        #expect(writer.state == .healthy)
        #expect(store.batches.withLock { $0.map { $0.map(\.id) } } == [[3, 4, 5]])
    }

    @Test("cancelling the writer's task writes what is left before it ends")
    func finalFlush() async {
        let store = FakeStore()
        let writer = HistoryWriter(store: store, flushInterval: .seconds(3600), logger: logger)
        let task = Task { await writer.run() }
        writer.record(line(1))
        task.cancel()
        await task.value
        #expect(store.batches.withLock { $0.flatMap { $0.map(\.id) } } == [1])
    }

    @Test("topics and purges are written where they stood among the lines; a purge reports its count")
    func order() async {
        let store = FakeStore()
        let writer = HistoryWriter(store: store, flushInterval: .seconds(3600), logger: logger)
        writer.record(line(1))
        writer.record(line(2))
        writer.record(.topic(StoredTopic(room: "#a", roomKey: "#a", topic: nil, eventID: 3)))
        writer.record(line(4))
        let count = Mutex<Int?>(nil)
        writer.record(.purge(HistoryPurge(roomKey: "#lobby"), done: { result in count.withLock { $0 = try? result.get() } }))
        writer.record(line(5))
        await writer.flush()
        #expect(store.log.withLock { $0 } == ["lines 1-2", "topic #a", "lines 4-4", "purge", "lines 5-5"])
        #expect(count.withLock { $0 } == 3)
    }

    @Test("flushes, reads and backups from many tasks reach the store one at a time (one SQLite connection holds one transaction)")
    func oneAtATime() async throws {
        let store = FakeStore()
        let writer = HistoryWriter(store: store, flushInterval: .seconds(3600), logger: logger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for id in 1...40 {
                group.addTask {
                    writer.record(line(UInt64(id)))
                    if id % 2 == 0 {
                        await writer.flush()
                    } else {
                        _ = try await writer.withStore { try await $0.lines(roomKey: "#lobby", before: nil, limit: 5) }
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(store.inside.withLock { $0.most } == 1)
        #expect(writer.written == 40 && writer.state == .healthy)
    }
}
