import ChatCore
import Logging
import NIOCore
import NIOPosix
import SQLiteNIO

/// History in an embedded SQLite file (sqlite-nio: SQLite compiled in, no server to run, and no
/// Foundation, so no ICU data in the binary; GRDB would bring Foundation back). One connection;
/// its calls run on a thread pool of its own, never on an event loop.
///
/// Schema version 1 (`PRAGMA user_version`): one `messages` table keyed by event id, indexed by
/// room and id. The file is in WAL mode with `synchronous=NORMAL`: a commit is durable against a
/// crash of chatd (the OS has it), and a power loss can lose at most the last commits.
public final class SQLiteHistoryStore: HistoryStore {
    /// The schema version this build writes; a newer file is refused, an older one upgraded.
    public static let schemaVersion = 1
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
        if found < 1 {
            try await transaction {
                _ = try await self.connection.query(
                    """
                    CREATE TABLE IF NOT EXISTS messages (
                        id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, room TEXT NOT NULL, room_key TEXT NOT NULL,
                        sender TEXT NOT NULL, text TEXT NOT NULL, action INTEGER NOT NULL)
                    """)
                _ = try await self.connection.query("CREATE INDEX IF NOT EXISTS messages_by_room ON messages (room_key, id)")
                _ = try await self.connection.query("PRAGMA user_version = 1")
            }
        }
    }

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

    public func lines(roomKey: String, before: UInt64?, limit: Int) async throws -> [HistoryRecord] {
        let rows = try await connection.query(
            "SELECT * FROM messages WHERE room_key = ? AND id < ? ORDER BY id DESC LIMIT ?",
            [.text(roomKey), .integer(SQLiteInt64(clamping: before ?? UInt64(Int64.max))), .integer(SQLiteInt64(max(0, limit)))])
        return rows.compactMap(Self.record).reversed()
    }

    public func lines(roomKey: String, after: UInt64, limit: Int) async throws -> [HistoryRecord] {
        let rows = try await connection.query(
            "SELECT * FROM messages WHERE room_key = ? AND id > ? ORDER BY id ASC LIMIT ?",
            [.text(roomKey), .integer(SQLiteInt64(clamping: after)), .integer(SQLiteInt64(max(0, limit)))])
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
