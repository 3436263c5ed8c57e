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

    func append(_ records: [HistoryRecord]) async throws {
        if let reason = failing.withLock({ $0 }) { throw Failure(description: reason) }
        batches.withLock { $0.append(records) }
    }
    func lines(roomKey: String, before: UInt64?, limit: Int) async throws -> [HistoryRecord] { [] }
    func lines(roomKey: String, after: UInt64, limit: Int) async throws -> [HistoryRecord] { [] }
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
        for id in 3...7 { writer.record(line(UInt64(id))) }  // the queue holds 3: the oldest 2 go
        #expect(writer.dropped == 4)
        store.failing.withLock { $0 = nil }
        await writer.flush()
        #expect(writer.state == .healthy)
        #expect(store.batches.withLock { $0.map { $0.map(\.id) } } == [[5, 6, 7]])
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
}
