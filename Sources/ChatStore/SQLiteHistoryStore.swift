import ChatCore
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO

/// History in an embedded SQLite file (sqlite-nio: SQLite compiled in, no server to run, and no
/// Foundation, so no ICU data in the binary; GRDB would bring Foundation back). One connection;
/// its calls run on a thread pool of its own, never on an event loop.
///
/// Schema version 3 (`PRAGMA user_version`): a `messages` table keyed by event id, indexed by
/// room and id (version 1), a `rooms` table of topics (version 2), and `accounts` (version 3:
/// name, key, password hash, created). The file is in WAL mode with `synchronous=NORMAL`: a commit is durable against a
/// crash of chatd (the OS has it), and a power loss can lose at most the last commits.
public final class SQLiteHistoryStore: HistoryStore {
    /// The schema version this build writes; a newer file is refused, an older one upgraded.
    public static let schemaVersion = 3
    /// Rows per INSERT statement (SQLite allows 32,766 bound values; a row binds 7).
    static let rowsPerStatement = 500

    public let path: String
    private let connection: SQLiteConnection
    private let threadPool: NIOThreadPool

    private init(path: String, connection: SQLiteConnection, threadPool: NIOThreadPool) {
        self.path = path
        self.connection = connection
        self.threadPool = threadPool
    }

    /// Opens (creating if needed) the history file at `path` and brings its schema up to date.
    public static func open(path: String, logger: Logger) async throws -> SQLiteHistoryStore {
        let threadPool = NIOThreadPool(numberOfThreads: 1)
        threadPool.start()
        let connection: SQLiteConnection
        do {
            connection = try await SQLiteConnection.open(
                storage: .file(path: path), threadPool: threadPool, logger: logger, on: MultiThreadedEventLoopGroup.singleton.any())
        } catch {
            try? await threadPool.shutdownGracefully()
            throw HistoryStoreError.unusable(path: path, reason: "cannot open it: \(error)")
        }
        let store = SQLiteHistoryStore(path: path, connection: connection, threadPool: threadPool)
        do {
            try await store.migrate()
        } catch {
            try? await store.close()
            throw error
        }
        return store
    }

    private func migrate() async throws {
        let found: Int
        do {
            _ = try await connection.query("PRAGMA journal_mode=WAL")
            _ = try await connection.query("PRAGMA synchronous=NORMAL")
            found = try await connection.query("PRAGMA user_version").first?.column("user_version")?.integer.map { Int($0) } ?? 0
        } catch {
            throw HistoryStoreError.unusable(path: path, reason: "not a history database (\(error))")
        }
        guard found <= Self.schemaVersion else {
            throw HistoryStoreError.newerSchema(found: found, known: Self.schemaVersion, path: path)
        }
        // Each step brings the file from one version to the next, in one transaction: a file
        // is at one version or the next, never between.
        for version in (found + 1)...max(found + 1, Self.schemaVersion) where version <= Self.schemaVersion {
            try await transaction {
                for statement in Self.migrations[version - 1] { _ = try await self.connection.query(statement) }
                _ = try await self.connection.query("PRAGMA user_version = \(version)")
            }
        }
    }

    /// The statements that bring a file from version N to N + 1, at index N.
    static let migrations: [[String]] = [
        // 1: room lines.
        [
            """
            CREATE TABLE IF NOT EXISTS messages (
                id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, room TEXT NOT NULL, room_key TEXT NOT NULL,
                sender TEXT NOT NULL, text TEXT NOT NULL, action INTEGER NOT NULL)
            """,
            "CREATE INDEX IF NOT EXISTS messages_by_room ON messages (room_key, id)",
        ],
        // 2: room topics (an empty topic was cleared; its row keeps the event id that did it).
        [
            """
            CREATE TABLE IF NOT EXISTS rooms (
                room_key TEXT PRIMARY KEY, room TEXT NOT NULL, topic TEXT NOT NULL, set_by TEXT NOT NULL,
                set_at INTEGER NOT NULL, event_id INTEGER NOT NULL)
            """
        ],
        // 3: accounts, by their nick's key.
        [
            """
            CREATE TABLE IF NOT EXISTS accounts (
                key TEXT PRIMARY KEY, name TEXT NOT NULL, password_hash TEXT NOT NULL, created_at INTEGER NOT NULL)
            """
        ],
    ]

    private func transaction(_ body: () async throws -> Void) async throws {
        _ = try await connection.query("BEGIN IMMEDIATE")
        do {
            try await body()
            _ = try await connection.query("COMMIT")
        } catch {
            _ = try? await connection.query("ROLLBACK")
            throw error
        }
    }

    public func append(_ records: [HistoryRecord]) async throws {
        guard !records.isEmpty else { return }
        try await transaction {
            var start = records.startIndex
            while start < records.endIndex {
                let chunk = records[start..<min(start + Self.rowsPerStatement, records.endIndex)]
                start = chunk.endIndex
                let rows = Array(repeating: "(?, ?, ?, ?, ?, ?, ?)", count: chunk.count).joined(separator: ", ")
                var binds: [SQLiteData] = []
                binds.reserveCapacity(chunk.count * 7)
                for record in chunk {
                    binds += [
                        .integer(SQLiteInt64(record.id)), .integer(SQLiteInt64(record.time.milliseconds)), .text(record.room),
                        .text(record.roomKey), .text(record.from), .text(record.text), .integer(record.isAction ? 1 : 0),
                    ]
                }
                _ = try await self.connection.query(
                    "INSERT OR IGNORE INTO messages (id, ts, room, room_key, sender, text, action) VALUES \(rows)", binds)
            }
        }
    }

    public func lines(roomKey: String, after: UInt64?, before: UInt64?, limit: Int) async throws -> [HistoryRecord] {
        let below = SQLiteData.integer(SQLiteInt64(clamping: before ?? UInt64(Int64.max)))
        let limit = SQLiteData.integer(SQLiteInt64(max(0, limit)))
        guard let after else {
            let rows = try await connection.query(
                "SELECT * FROM messages WHERE room_key = ? AND id < ? ORDER BY id DESC LIMIT ?", [.text(roomKey), below, limit])
            return rows.compactMap(Self.record).reversed()
        }
        let rows = try await connection.query(
            "SELECT * FROM messages WHERE room_key = ? AND id > ? AND id < ? ORDER BY id ASC LIMIT ?",
            [.text(roomKey), .integer(SQLiteInt64(clamping: after)), below, limit])
        return rows.compactMap(Self.record)
    }

    public func newestLines(perRoom limit: Int) async throws -> [HistoryRecord] {
        guard limit > 0 else { return [] }
        let rows = try await connection.query(
            """
            SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY room_key ORDER BY id DESC) AS n FROM messages)
            WHERE n <= ? ORDER BY id ASC
            """, [.integer(SQLiteInt64(limit))])
        return rows.compactMap(Self.record)
    }

    public func setTopic(_ topic: StoredTopic) async throws {
        _ = try await connection.query(
            """
            INSERT INTO rooms (room_key, room, topic, set_by, set_at, event_id) VALUES (?, ?, ?, ?, ?, ?)
            ON CONFLICT (room_key) DO UPDATE SET room = excluded.room, topic = excluded.topic, set_by = excluded.set_by,
                set_at = excluded.set_at, event_id = excluded.event_id
            WHERE excluded.event_id > rooms.event_id
            """,
            [
                .text(topic.roomKey), .text(topic.room), .text(topic.topic?.text ?? ""), .text(topic.topic?.setBy ?? ""),
                .integer(SQLiteInt64(topic.topic?.setAt.milliseconds ?? 0)), .integer(SQLiteInt64(clamping: topic.eventID)),
            ])
    }

    public func account(key: String) async throws -> AccountRecord? {
        guard let row = try await connection.query("SELECT * FROM accounts WHERE key = ?", [.text(key)]).first,
            let name = row.column("name")?.string, let hash = row.column("password_hash")?.string,
            let created = row.column("created_at")?.integer
        else { return nil }
        return AccountRecord(key: key, name: name, passwordHash: hash, createdAt: Timestamp(milliseconds: Int64(created)))
    }

    public func createAccount(_ account: AccountRecord) async throws -> Bool {
        let before = try await connection.query("SELECT count(*) AS n FROM accounts WHERE key = ?", [.text(account.key)])
        guard before.first?.column("n")?.integer == 0 else { return false }
        _ = try await connection.query(
            "INSERT INTO accounts (key, name, password_hash, created_at) VALUES (?, ?, ?, ?)",
            [.text(account.key), .text(account.name), .text(account.passwordHash), .integer(SQLiteInt64(account.createdAt.milliseconds))])
        return true
    }

    public func setPasswordHash(key: String, hash: String) async throws {
        _ = try await connection.query("UPDATE accounts SET password_hash = ? WHERE key = ?", [.text(hash), .text(key)])
    }

    public func dropAccount(key: String) async throws {
        _ = try await connection.query("DELETE FROM accounts WHERE key = ?", [.text(key)])
    }

    public func accountList() async throws -> [AccountRecord] {
        try await connection.query("SELECT * FROM accounts ORDER BY key").compactMap { row in
            guard let key = row.column("key")?.string, let name = row.column("name")?.string,
                let hash = row.column("password_hash")?.string, let created = row.column("created_at")?.integer
            else { return nil }
            return AccountRecord(key: key, name: name, passwordHash: hash, createdAt: Timestamp(milliseconds: Int64(created)))
        }
    }

    public func accountNames() async throws -> [String] {
        try await connection.query("SELECT name FROM accounts ORDER BY key").compactMap { $0.column("name")?.string }
    }

    public func topics() async throws -> [StoredTopic] {
        try await connection.query("SELECT * FROM rooms WHERE topic <> '' ORDER BY room_key").compactMap { row in
            guard let key = row.column("room_key")?.string, let room = row.column("room")?.string,
                let text = row.column("topic")?.string, let by = row.column("set_by")?.string, let at = row.column("set_at")?.integer,
                let id = row.column("event_id")?.integer
            else { return nil }
            return StoredTopic(
                room: room, roomKey: key, topic: RoomTopic(text: text, setBy: by, setAt: Timestamp(milliseconds: Int64(at))),
                eventID: UInt64(max(0, id)))
        }
    }

    public func purge(_ purge: HistoryPurge) async throws -> Int {
        var conditions = ["id <= ?"]
        var binds: [SQLiteData] = [.integer(SQLiteInt64(clamping: purge.upTo))]
        if let room = purge.roomKey {
            conditions.append("room_key = ?")
            binds.append(.text(room))
        }
        if let before = purge.before {
            conditions.append("ts < ?")
            binds.append(.integer(SQLiteInt64(before.milliseconds)))
        }
        if let id = purge.id {
            conditions.append("id = ?")
            binds.append(.integer(SQLiteInt64(clamping: id)))
        }
        if purge.nickKey != nil {
            // Senders are kept as shown; which of them are the nick is decided by its key, as
            // the directory decides it.
            let senders = try await connection.query(
                "SELECT DISTINCT sender FROM messages WHERE \(conditions.joined(separator: " AND "))", binds
            ).compactMap { $0.column("sender")?.string }.filter(purge.matches(sender:))
            guard !senders.isEmpty else { return 0 }
            conditions.append("sender IN (\(Array(repeating: "?", count: senders.count).joined(separator: ", ")))")
            binds += senders.map { .text($0) }
        }
        return try await delete(where: conditions.joined(separator: " AND "), binds)
    }

    public func prune(_ retention: HistoryRetention, at now: Timestamp, limit: Int) async throws -> Int {
        let limit = max(1, limit)
        if let cutoff = retention.cutoff(at: now) {
            // Ids grow with time: the first line young enough bounds the old ones, found from
            // the oldest end (quick once retention keeps up).
            let young = try await connection.query(
                "SELECT id FROM messages WHERE ts >= ? ORDER BY id LIMIT 1", [.integer(SQLiteInt64(cutoff.milliseconds))]
            ).first?.column("id")?.integer
            let removed = try await delete(
                where: "id IN (SELECT id FROM messages WHERE id < ? ORDER BY id LIMIT ?)",
                [.integer(young ?? SQLiteInt64.max), .integer(SQLiteInt64(limit))])
            if removed > 0 { return removed }
        }
        if let keep = retention.maxMessagesPerRoom {
            let crowded = try await connection.query(
                "SELECT room_key FROM messages GROUP BY room_key HAVING COUNT(*) > ?", [.integer(SQLiteInt64(keep))]
            ).compactMap { $0.column("room_key")?.string }
            var removed = 0
            for room in crowded where removed < limit {
                guard
                    let newestKept = try await connection.query(
                        "SELECT id FROM messages WHERE room_key = ? ORDER BY id DESC LIMIT 1 OFFSET ?",
                        [.text(room), .integer(SQLiteInt64(max(0, keep - 1)))]
                    ).first?.column("id")?.integer
                else { continue }
                let bound: SQLiteInt64 = keep == 0 ? .max : newestKept
                removed += try await delete(
                    where: "id IN (SELECT id FROM messages WHERE room_key = ? AND id < ? ORDER BY id LIMIT ?)",
                    [.text(room), .integer(bound), .integer(SQLiteInt64(limit - removed))])
            }
            return removed
        }
        return 0
    }

    /// Deletes the lines matching `condition`; returns how many.
    private func delete(where condition: String, _ binds: [SQLiteData]) async throws -> Int {
        let rows = try await connection.query("DELETE FROM messages WHERE \(condition) RETURNING id", binds)
        return rows.count
    }

    /// `VACUUM INTO`: one read transaction, so the copy is the database as of one instant, and
    /// compact; writers are not blocked (WAL).
    public func backup(to path: String) async throws {
        _ = try await connection.query("VACUUM INTO ?", [.text(path)])
    }

    public func newestID() async throws -> UInt64 {
        let rows = try await connection.query("SELECT MAX(id) AS newest FROM messages")
        return rows.first?.column("newest")?.integer.map { UInt64(max(0, $0)) } ?? 0
    }

    /// Sets the schema version (for tests that play a newer chatd).
    func setUserVersion(_ version: Int) async throws {
        _ = try await connection.query("PRAGMA user_version = \(version)")
    }

    public func close() async throws {
        try await connection.close()
        try await threadPool.shutdownGracefully()
    }

    private static func record(_ row: SQLiteRow) -> HistoryRecord? {
        guard let id = row.column("id")?.integer, let ts = row.column("ts")?.integer, let room = row.column("room")?.string,
            let key = row.column("room_key")?.string, let from = row.column("sender")?.string, let text = row.column("text")?.string,
            let action = row.column("action")?.integer
        else { return nil }
        return HistoryRecord(
            id: UInt64(id), time: Timestamp(milliseconds: Int64(ts)), room: room, roomKey: key, from: from, text: text,
            isAction: action != 0)
    }
}
