/// One room line kept in history: a message or an action, with the id and time its event had.
public struct HistoryRecord: Equatable, Sendable {
    /// The event's id (unique and increasing across restarts: the directory continues from the
    /// store's newest id).
    public var id: UInt64
    public var time: Timestamp
    /// The room as shown (`#Dev`); lookups use its key (`RoomName.key`).
    public var room: String
    public var roomKey: String
    public var from: String
    public var text: String
    public var isAction: Bool

    public init(id: UInt64, time: Timestamp, room: String, roomKey: String, from: String, text: String, isAction: Bool) {
        self.id = id
        self.time = time
        self.room = room
        self.roomKey = roomKey
        self.from = from
        self.text = text
        self.isAction = isAction
    }
}

extension HistoryRecord {
    /// As `chatctl history --json` shows it.
    public var json: JSONValue {
        .object(
            JSONObject([
                ("id", .integer(Int64(id))), ("ts", .string(time.iso8601)), ("room", .string(room)), ("from", .string(from)),
                ("text", .string(text)), ("action", .bool(isAction)),
            ]))
    }

    /// The inverse of `json`, for the clients: chatctl's `history`, and each line of a
    /// `history` event, which names its `room` once for all of them.
    public init?(json: JSONValue, room shared: String? = nil) {
        guard let o = json.objectValue, let id = o.int("id"), id >= 0, let ts = o.string("ts").flatMap(Timestamp.init(iso8601:)),
            let room = o.string("room") ?? shared, let from = o.string("from"), let text = o.string("text"),
            case .bool(let action)? = o["action"]
        else { return nil }
        self.init(
            id: UInt64(id), time: ts, room: room, roomKey: room.lowercased(), from: Sanitizer.clean(from), text: Sanitizer.clean(text),
            isAction: action)
    }
}

/// Where history lives. One interface, so that a second backend (PostgreSQL, for the cluster)
/// can be added without touching its callers; the embedded SQLite store is the default
/// (`Sources/ChatStore`). Never called on an event loop or under the hub's lock: the writer
/// batches appends on a task of its own.
public protocol HistoryStore: Sendable {
    /// Appends `records` (in id order) in one transaction: all of them are kept, or none.
    func append(_ records: [HistoryRecord]) async throws

    /// Up to `limit` lines of the room with key `roomKey`, oldest first: the newest ones before
    /// the event id `before` (the newest of all when nil).
    func lines(roomKey: String, before: UInt64?, limit: Int) async throws -> [HistoryRecord]

    /// Up to `limit` lines of the room after the event id `after`, oldest first (a reconnecting
    /// client's gap).
    func lines(roomKey: String, after: UInt64, limit: Int) async throws -> [HistoryRecord]

    /// Every room's newest `limit` lines (the scrollback to seed at start), oldest first.
    func newestLines(perRoom limit: Int) async throws -> [HistoryRecord]

    /// Writes a consistent copy of everything kept to a new file at `path` while chat goes on
    /// (`chatctl backup`). Refuses a path that exists.
    func backup(to path: String) async throws

    /// The newest event id kept (0 when empty): event ids continue from it after a restart.
    func newestID() async throws -> UInt64

    func close() async throws
}

/// Why the history store cannot be used.
public enum HistoryStoreError: Error, Equatable, CustomStringConvertible {
    /// The file was written by a newer chatd (its schema version is higher than this one knows).
    case newerSchema(found: Int, known: Int, path: String)
    /// The file cannot be opened or read as a database.
    case unusable(path: String, reason: String)

    public var description: String {
        switch self {
        case .newerSchema(let found, let known, let path):
            "\(path) was written by a newer chatd (history schema \(found); this chatd knows up to \(known)): upgrade chatd, or move the file away"
        case .unusable(let path, let reason): "\(path): \(reason)"
        }
    }
}
