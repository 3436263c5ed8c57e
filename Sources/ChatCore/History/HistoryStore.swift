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

    /// Up to `limit` lines of the room with key `roomKey`, oldest first. With `after`, the first
    /// lines after that event id (a reconnecting client's gap), below `before` if given; else
    /// the newest lines before the event id `before` (the newest of all when nil).
    func lines(roomKey: String, after: UInt64?, before: UInt64?, limit: Int) async throws -> [HistoryRecord]

    /// Every room's newest `limit` lines (the scrollback to seed at start), oldest first.
    func newestLines(perRoom limit: Int) async throws -> [HistoryRecord]

    /// Sets or clears a room's topic, unless a later event's topic is already kept.
    func setTopic(_ topic: StoredTopic) async throws

    /// Every room's topic (cleared ones left out).
    func topics() async throws -> [StoredTopic]

    /// Removes the lines `purge` matches; returns how many.
    func purge(_ purge: HistoryPurge) async throws -> Int

    /// Removes at most `limit` lines beyond `retention` at `now` (the oldest first); returns how
    /// many. Callers repeat it while it returns `limit`, so that writes are not held up by one
    /// long delete.
    func prune(_ retention: HistoryRetention, at now: Timestamp, limit: Int) async throws -> Int

    /// Writes a consistent copy of everything kept to a new file at `path` while chat goes on
    /// (`chatctl backup`). Refuses a path that exists.
    func backup(to path: String) async throws

    /// The newest event id kept (0 when empty): event ids continue from it after a restart.
    func newestID() async throws -> UInt64

    // Accounts are kept in the same store (issue 19): the file an operator backs up holds them.

    /// The account with key `key`, if there is one.
    func account(key: String) async throws -> AccountRecord?
    /// Adds `account`; false if one with its key exists.
    func createAccount(_ account: AccountRecord) async throws -> Bool
    func setPasswordHash(key: String, hash: String) async throws
    func dropAccount(key: String) async throws
    /// Every account's name.
    func accountNames() async throws -> [String]
    /// Every account, by key.
    func accountList() async throws -> [AccountRecord]

    func close() async throws
}

extension HistoryStore {
    public func account(key: String) async throws -> AccountRecord? { throw HistoryStoreError.noAccounts }
    public func createAccount(_ account: AccountRecord) async throws -> Bool { throw HistoryStoreError.noAccounts }
    public func setPasswordHash(key: String, hash: String) async throws { throw HistoryStoreError.noAccounts }
    public func dropAccount(key: String) async throws { throw HistoryStoreError.noAccounts }
    public func accountNames() async throws -> [String] { [] }
    public func accountList() async throws -> [AccountRecord] { [] }

    /// The newest `limit` lines before the event id `before` (the newest of all when nil).
    public func lines(roomKey: String, before: UInt64?, limit: Int) async throws -> [HistoryRecord] {
        try await lines(roomKey: roomKey, after: nil, before: before, limit: limit)
    }

    /// The first `limit` lines after the event id `after`.
    public func lines(roomKey: String, after: UInt64, limit: Int) async throws -> [HistoryRecord] {
        try await lines(roomKey: roomKey, after: after, before: nil, limit: limit)
    }
}

/// Why the history store cannot be used.
public enum HistoryStoreError: Error, Equatable, CustomStringConvertible {
    /// The file was written by a newer chatd (its schema version is higher than this one knows).
    case newerSchema(found: Int, known: Int, path: String)
    /// The file cannot be opened or read as a database.
    case unusable(path: String, reason: String)
    /// The store keeps no accounts.
    case noAccounts

    public var description: String {
        switch self {
        case .newerSchema(let found, let known, let path):
            "\(path) was written by a newer chatd (history schema \(found); this chatd knows up to \(known)): upgrade chatd, or move the file away"
        case .unusable(let path, let reason): "\(path): \(reason)"
        case .noAccounts: "this store keeps no accounts"
        }
    }
}

/// A room's topic: what it says, who set it and when.
public struct RoomTopic: Equatable, Sendable {
    public var text: String
    public var setBy: String
    public var setAt: Timestamp

    public init(text: String, setBy: String, setAt: Timestamp) {
        self.text = text
        self.setBy = setBy
        self.setAt = setAt
    }
}

/// A topic as the store keeps it: by room, with the id of the event that set it (a later
/// event's topic wins, whatever order the writes arrive in). A nil `topic` was cleared.
public struct StoredTopic: Equatable, Sendable {
    public var room: String
    public var roomKey: String
    public var topic: RoomTopic?
    public var eventID: UInt64

    public init(room: String, roomKey: String, topic: RoomTopic?, eventID: UInt64) {
        self.room = room
        self.roomKey = roomKey
        self.topic = topic
        self.eventID = eventID
    }
}

/// Which kept lines an operator removes (`chatctl purge`): every line matching all the given
/// criteria, among those relayed up to the purge (`upTo`). The directory's scrollback and the
/// store apply this one definition, so a purged line never comes back in a replay.
public struct HistoryPurge: Equatable, Sendable {
    /// The room, by key (`RoomName.key`).
    public var roomKey: String?
    /// The sender, by nick key: `Alice` purges `alice`'s lines, not `aIice`'s.
    public var nickKey: String?
    /// Lines sent before this time.
    public var before: Timestamp?
    /// One line, by event id.
    public var id: UInt64?
    /// The newest event id when the purge was asked for: later lines are left alone.
    public var upTo: UInt64

    public init(roomKey: String? = nil, nickKey: String? = nil, before: Timestamp? = nil, id: UInt64? = nil, upTo: UInt64 = .max) {
        self.roomKey = roomKey
        self.nickKey = nickKey
        self.before = before
        self.id = id
        self.upTo = upTo
    }

    /// True when at least one criterion narrows it (a purge of everything is refused).
    public var isNarrowed: Bool { roomKey != nil || nickKey != nil || before != nil || id != nil }

    public func matches(_ line: HistoryRecord) -> Bool {
        line.id <= upTo && (roomKey.map { $0 == line.roomKey } ?? true) && (id.map { $0 == line.id } ?? true)
            && (before.map { line.time < $0 } ?? true) && matches(sender: line.from)
    }

    /// Whether a line from `sender` (as kept: the nick as shown) is the purged nick's.
    public func matches(sender: String) -> Bool {
        guard let nickKey else { return true }
        return Self.key(ofSender: sender) == nickKey
    }

    /// The key of a nick as kept in history (one that no longer passes today's rules is
    /// matched by its lower-cased self).
    public static func key(ofSender sender: String) -> String {
        switch Nickname.validate(sender, maxLength: 1000) {
        case .success(let nick): nick.key
        case .failure: sender.lowercased()
        }
    }
}

/// How long lines are kept (`history.maxAgeDays`, `history.maxMessagesPerRoom`); nil keeps
/// them for good.
public struct HistoryRetention: Equatable, Sendable {
    public var maxAgeDays: Int?
    public var maxMessagesPerRoom: Int?

    public init(maxAgeDays: Int? = nil, maxMessagesPerRoom: Int? = nil) {
        self.maxAgeDays = maxAgeDays
        self.maxMessagesPerRoom = maxMessagesPerRoom
    }

    public var isUnlimited: Bool { maxAgeDays == nil && maxMessagesPerRoom == nil }

    /// Lines sent before this are past the age limit at `now`.
    public func cutoff(at now: Timestamp) -> Timestamp? {
        maxAgeDays.map { Timestamp(milliseconds: now.milliseconds - Int64($0) * 86_400_000) }
    }
}
