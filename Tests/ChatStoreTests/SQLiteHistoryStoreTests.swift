import ChatCore
import Foundation
import Logging
import NIOPosix
import SQLiteNIO
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
        await #expect(throws: HistoryStoreError.newerSchema(found: 7, known: SQLiteHistoryStore.schemaVersion, path: dir + "/newer.db")) {
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

    @Test("a gap between two event ids is read oldest first")
    func gap() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteHistoryStore.open(path: dir + "/history.db", logger: logger)
        try await store.append((1...20).map { record(UInt64($0)) })
        #expect(try await store.lines(roomKey: "#dev", after: 5, before: 9, limit: 50).map(\.id) == [6, 7, 8])
        #expect(try await store.lines(roomKey: "#dev", after: 5, before: 19, limit: 2).map(\.id) == [6, 7])
        try await store.close()
    }

    @Test("a topic is kept per room; a later event's topic wins whatever order the writes come in; a cleared one is gone")
    func topics() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteHistoryStore.open(path: dir + "/history.db", logger: logger)
        func topic(_ text: String, _ id: UInt64, _ room: String = "#Dev") -> StoredTopic {
            StoredTopic(
                room: room, roomKey: room.lowercased(), topic: RoomTopic(text: text, setBy: "alice", setAt: Timestamp(milliseconds: 1_000)),
                eventID: id)
        }
        try await store.setTopic(topic("second", 20))
        try await store.setTopic(topic("first", 10))  // older: ignored
        try await store.setTopic(topic("ops", 5, "#ops"))
        try await store.close()
        let reopened = try await SQLiteHistoryStore.open(path: dir + "/history.db", logger: logger)
        #expect(try await reopened.topics() == [topic("second", 20), topic("ops", 5, "#ops")])
        try await reopened.setTopic(StoredTopic(room: "#ops", roomKey: "#ops", topic: nil, eventID: 30))
        #expect(try await reopened.topics() == [topic("second", 20)])
        try await reopened.close()
    }

    @Test("a purge removes the lines matching all its criteria, up to its event id; a nick is matched by its key")
    func purge() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteHistoryStore.open(path: dir + "/history.db", logger: logger)
        var lines = (1...30).map { record(UInt64($0), $0 % 2 == 0 ? "#ops" : "#Dev") }
        for i in lines.indices where i % 3 == 0 { lines[i].from = i % 2 == 0 ? "Spammer" : "SPAMMER" }
        try await store.append(lines)
        let spammer = HistoryPurge.key(ofSender: "spammer")
        #expect(
            try await store.purge(HistoryPurge(roomKey: "#ops", nickKey: spammer))
                == lines.filter { $0.roomKey == "#ops" && $0.from != "alice" }.count)
        #expect(
            try await store.purge(HistoryPurge(nickKey: spammer, upTo: 20))
                == lines.filter { $0.roomKey == "#dev" && $0.from != "alice" && $0.id <= 20 }.count)
        #expect(try await store.purge(HistoryPurge(id: 2)) == 1)
        #expect(try await store.purge(HistoryPurge(before: lines[4].time)) == 1, "id 3: 1 and 4 were the spammer's, 2 went by id")
        let left = try await store.lines(roomKey: "#dev", before: nil, limit: 100) + store.lines(roomKey: "#ops", before: nil, limit: 100)
        let purge = [
            HistoryPurge(roomKey: "#ops", nickKey: spammer), HistoryPurge(nickKey: spammer, upTo: 20), HistoryPurge(id: 2),
            HistoryPurge(before: lines[4].time),
        ]
        #expect(
            Set(left.map(\.id)) == Set(lines.filter { line in !purge.contains { $0.matches(line) } }.map(\.id)),
            "the store and the scrollback agree")
        try await store.close()
    }

    @Test("retention removes lines past the age limit and beyond the per-room count, oldest first, in chunks")
    func prune() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try await SQLiteHistoryStore.open(path: dir + "/history.db", logger: logger)
        let day: Int64 = 86_400_000
        let now = Timestamp(milliseconds: 100 * day)
        // 30 lines a day apart, from 29 days ago to today, alternating rooms.
        let lines = (0..<30).map { i in
            var line = record(UInt64(i + 1), i % 2 == 0 ? "#a" : "#b")
            line.time = Timestamp(milliseconds: now.milliseconds - Int64(29 - i) * day)
            return line
        }
        try await store.append(lines)
        let week = HistoryRetention(maxAgeDays: 7)
        #expect(try await store.prune(week, at: now, limit: 10) == 10)
        #expect(try await store.prune(week, at: now, limit: 10) == 10)
        #expect(try await store.prune(week, at: now, limit: 10) == 2, "22 lines were older than 7 days")
        #expect(try await store.prune(week, at: now, limit: 10) == 0)
        let few = HistoryRetention(maxMessagesPerRoom: 3)
        #expect(try await store.prune(few, at: now, limit: 100) == 2, "4 lines left in each room")
        #expect(try await store.lines(roomKey: "#a", before: nil, limit: 10).map(\.id) == [25, 27, 29])
        #expect(try await store.lines(roomKey: "#b", before: nil, limit: 10).map(\.id) == [26, 28, 30])
        try await store.close()
    }

    @Test("a file of schema 1 (no topics) is upgraded in place and keeps its lines")
    func upgrade() async throws {
        let dir = try directory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/v1.db"
        // What the first release with history wrote, statement for statement.
        let pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        let raw = try await SQLiteConnection.open(
            storage: .file(path: path), threadPool: pool, logger: logger, on: MultiThreadedEventLoopGroup.singleton.any())
        for statement in [
            "PRAGMA journal_mode=WAL",
            "CREATE TABLE messages (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, room TEXT NOT NULL, room_key TEXT NOT NULL, sender TEXT NOT NULL, text TEXT NOT NULL, action INTEGER NOT NULL)",
            "CREATE INDEX messages_by_room ON messages (room_key, id)",
            "INSERT INTO messages VALUES (7, 1764756000000, '#Dev', '#dev', 'alice', 'kept from version 1', 0)",
            "PRAGMA user_version = 1",
        ] {
            _ = try await raw.query(statement)
        }
        try await raw.close()
        try await pool.shutdownGracefully()

        let store = try await SQLiteHistoryStore.open(path: path, logger: logger)
        #expect(try await store.lines(roomKey: "#dev", before: nil, limit: 5).map(\.text) == ["kept from version 1"])
        #expect(try await store.newestID() == 7)
        let topic = StoredTopic(
            room: "#Dev", roomKey: "#dev", topic: RoomTopic(text: "upgraded", setBy: "alice", setAt: Timestamp(milliseconds: 0)), eventID: 8
        )
        try await store.setTopic(topic)
        #expect(try await store.topics() == [topic])
        try await store.close()
    }
}
