import ChatCore
import Foundation
import Logging
import Testing

@testable import ChatStore

@Suite("the SQLite history store")
struct SQLiteHistoryStoreTests {
    let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

    /// A fresh directory for one test's files, removed afterwards by the caller.
    func directory() throws -> String {
        let path = NSTemporaryDirectory() + "chatd-history-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    func record(_ id: UInt64, _ room: String = "#Dev", text: String? = nil) -> HistoryRecord {
        HistoryRecord(
            id: id, time: Timestamp(milliseconds: 1_764_756_000_000 + Int64(id)), room: room, roomKey: room.lowercased(), from: "alice",
            text: text ?? "line \(id)", isAction: id % 10 == 0)
    }

    @Test("lines come back by room, oldest first, paged before and after an event id, and survive reopening")
    func roundTrip() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteHistoryStore.open(path: dir + "/history.db", logger: logger)
        #expect(try await store.newestID() == 0)
        // More rows than one INSERT statement takes, in one transaction.
        let records = (1...1_200).map { record(UInt64($0), $0 % 3 == 0 ? "#ops" : "#Dev") }
        try await store.append(records)
        let dev = records.filter { $0.roomKey == "#dev" }
        #expect(try await store.lines(roomKey: "#dev", before: nil, limit: 50) == Array(dev.suffix(50)))
        #expect(try await store.lines(roomKey: "#dev", before: dev[100].id, limit: 3) == Array(dev[97..<100]))
        #expect(try await store.lines(roomKey: "#dev", after: dev[100].id, limit: 2) == Array(dev[101..<103]))
        #expect(try await store.lines(roomKey: "#nowhere", before: nil, limit: 50).isEmpty)
        try await store.append([record(5, text: "a replay of an id already kept")])  // kept once, unchanged
        #expect(try await store.lines(roomKey: "#dev", after: 4, limit: 1).first?.text == "line 5")
        try await store.close()

        let reopened = try await SQLiteHistoryStore.open(path: dir + "/history.db", logger: logger)
        #expect(try await reopened.newestID() == 1_200)
        let seed = try await reopened.newestLines(perRoom: 2)
        #expect(seed.map(\.id) == [1_197, 1_198, 1_199, 1_200], "the newest 2 of #ops (ids divisible by 3) and of #dev")
        #expect(try await reopened.lines(roomKey: "#ops", before: nil, limit: 1) == [records[1_199]])
        try await reopened.close()
    }

    @Test("a file from a newer chatd is refused with a clear error; a file that is not a database is unusable")
    func refusals() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteHistoryStore.open(path: dir + "/newer.db", logger: logger)
        try await store.append([record(1)])
        try await store.close()
        // What a later schema would leave behind.
        let raw = try await SQLiteHistoryStore.open(path: dir + "/newer.db", logger: logger)
        try await raw.setUserVersion(7)
        try await raw.close()
        await #expect(throws: HistoryStoreError.newerSchema(found: 7, known: 1, path: dir + "/newer.db")) {
            _ = try await SQLiteHistoryStore.open(path: dir + "/newer.db", logger: logger)
        }
        try Data(repeating: 0x5A, count: 4096).write(to: URL(fileURLWithPath: dir + "/garbage.db"))
        do {
            _ = try await SQLiteHistoryStore.open(path: dir + "/garbage.db", logger: logger)
            Issue.record("a garbage file opened as history")
        } catch let error as HistoryStoreError {
            guard case .unusable = error else { throw error }
        }
        await #expect(throws: HistoryStoreError.self) {
            _ = try await SQLiteHistoryStore.open(path: dir + "/no/such/dir/history.db", logger: logger)
        }
    }
}
