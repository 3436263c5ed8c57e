/// Identifies one connection for its whole life. Assigned by the server, never reused.
public struct SessionID: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let value: UInt64

    public init(_ value: UInt64) { self.value = value }

    public static func < (lhs: SessionID, rhs: SessionID) -> Bool { lhs.value < rhs.value }
    public var description: String { String(value) }
}

/// Who receives an event.
public enum Audience: Equatable, Sendable {
    /// Every member of the room (by key). A text-mode member equal to `sender` is skipped, so
    /// nobody sees their own line as if someone else had written it; JSON clients get their own
    /// message back as the confirmation, with its id, in the room's order. `shards` are the
    /// loops with members at the moment of the event (a part notice still reaches the leaver).
    case room(String, sender: SessionID?, shards: ShardSet)
    case session(SessionID)
    /// The sender's own copy of something it sent (rendered `-> *bob* text` in text mode).
    case echo(SessionID)
    case sessions([SessionID])
    /// Every connection, registered or not (server announcements).
    case everyone
}

/// A set of event-loop indices (at most 64 loops).
public struct ShardSet: Equatable, Sendable, Sequence, ExpressibleByArrayLiteral {
    public static let capacity = 64
    public private(set) var bits: UInt64 = 0

    public init() {}

    public init(arrayLiteral shards: Int...) {
        for shard in shards { insert(shard) }
    }

    /// The shards whose count is above zero.
    public init(counts: [Int]) {
        for (shard, count) in counts.enumerated() where count > 0 { insert(shard) }
    }

    public mutating func insert(_ shard: Int) { bits |= 1 << UInt64(shard) }
    public func contains(_ shard: Int) -> Bool { bits & (1 << UInt64(shard)) != 0 }

    public func makeIterator() -> Iterator { Iterator(remaining: bits) }

    public struct Iterator: IteratorProtocol {
        var remaining: UInt64

        public mutating func next() -> Int? {
            guard remaining != 0 else { return nil }
            let shard = remaining.trailingZeroBitCount
            remaining &= remaining - 1
            return shard
        }
    }
}

/// One step of a transition's effect, in the order it must happen.
public enum Delivery: Equatable, Sendable {
    case event(Event, to: Audience)
    /// The session joined the room: its loop starts delivering the room's traffic to it.
    case added(SessionID, room: String, shard: Int)
    /// The session left the room: its loop stops delivering the room's traffic to it.
    case removed(SessionID, room: String, shard: Int)
    /// The session's current room changed (text mode shows other rooms' lines with a prefix).
    case current(SessionID, room: String?, shard: Int)
    /// The session's nick changed (by its own request, or on signing in): its loop addresses
    /// what it renders for it (IRC's numerics) to the new one.
    case renamed(SessionID, nick: String, shard: Int)
    /// Older lines are to be read from the history store for the session (off the lock; the
    /// answer comes back through `Directory.answer(_:lines:at:)`).
    case readHistory(HistoryQuery)
    /// Account work for the server (hashing, the store), off the lock; the answer comes back
    /// through `Directory.accountDone(_:_:at:)`.
    case account(AccountTask)
}

/// A room's newest lines, in a ring: keeping one more costs no copy and no shift.
public struct Scrollback: Sendable {
    private var ring: [HistoryRecord] = []
    /// Where the oldest line is once the ring is full (the next to be overwritten).
    private var oldest = 0

    public init() {}

    /// Adds the newest line, dropping the oldest beyond `limit`.
    public mutating func append(_ line: HistoryRecord, keeping limit: Int) {
        if ring.count < limit {
            ring.append(line)
        } else {
            ring[oldest] = line
            oldest = (oldest + 1) % ring.count
        }
    }

    /// The lines, oldest first.
    public var lines: [HistoryRecord] { Array(ring[oldest...] + ring[..<oldest]) }
}

/// A client's request for a room's kept lines, checked by the directory, read by the server.
public struct HistoryQuery: Equatable, Sendable {
    public var session: SessionID
    public var room: String
    public var roomKey: String
    public var before: UInt64?
    public var after: UInt64?
    public var limit: Int
    public var re: RequestID?
}

/// The server's global chat state: who is registered under which nick, which rooms exist and
/// who is in them, and the event-id counter. A pure value: every transition takes the time as a
/// parameter and returns the deliveries to perform, in order. The server holds the one instance
/// behind a lock and routes the deliveries while still holding it, which is what gives every
/// member of a room the same order of events.
public struct Directory: Sendable {
    public struct Client: Sendable {
        public var nick: Nickname
        public var shard: Int
        /// Rooms in join order.
        public var rooms: [RoomName]
        public var currentRoom: RoomName?
        public var connectedAt: Timestamp
        /// The peer's address as shown to operators.
        public var address: String
        public var kind: ClientKind
        /// When the client last sent a message (room or private): idle time is measured from it.
        public var lastMessageAt: Timestamp
        /// Its away message (`/away`), while it is away.
        public var away: String?
        /// The account it is signed in to, by name.
        public var account: String?

        /// Whole seconds since its last message (or since it connected).
        public func idleSeconds(at now: Timestamp) -> Int {
            Int(max(0, now.milliseconds - lastMessageAt.milliseconds) / 1000)
        }
    }

    public struct Room: Sendable {
        public var name: RoomName
        /// Members. A set, so that leaving is O(1) even in a room of thousands.
        public var members: Set<SessionID>
        /// How many members each event loop (shard) has: fan-out posts only to loops with members.
        public var shardCounts: [Int]
        public var messages: UInt64 = 0
        /// Members with a role (operator, voice); the rest have none.
        public var roles: [SessionID: RoomRole] = [:]
        public var modes: RoomModes = .created
        /// The key a joiner must give (`+k`), if one is set.
        public var key: String?
        /// Who an operator invited and has not joined yet (a bounded list, oldest dropped first):
        /// they may join past `+i` and `+k`.
        public var invited: [SessionID] = []
        public var createdAt = Timestamp(milliseconds: 0)

        /// The most pending invitations a room keeps.
        static let maxInvited = 100

        public func role(of id: SessionID) -> RoomRole { roles[id] ?? [] }
    }

    /// Replaced on reload; applies to everything validated from then on.
    public var limits: Limits
    public var defaultRoom: RoomName
    /// Each room's newest lines (at most `scrollbackLines`), shown to whoever joins it. Kept
    /// here, in the directory's own order, so that a joiner sees exactly the lines before its
    /// join and then every line after it, live: none twice, none lost. Seeded from the history
    /// store at start (`seedScrollback`).
    public private(set) var scrollback: [String: Scrollback] = [:]
    /// `history.replayLines`: 0 keeps and shows none.
    public var scrollbackLines = 0
    /// Each room's topic, by room key. Kept when the room empties (and across restarts, in the
    /// history store: `seedTopics`).
    public internal(set) var topics: [String: RoomTopic] = [:]
    public let shardCount: Int
    public internal(set) var clients: [SessionID: Client] = [:]
    /// Every key of every registered nick (`Nickname.keys`: one or two each) → its holder.
    public private(set) var nicks: [String: SessionID] = [:]
    public internal(set) var rooms: [String: Room] = [:]
    /// Every account, by key (its nick's key) → its name. Seeded from the store at start
    /// (`seedAccounts`); passwords stay in the store.
    public internal(set) var accounts: [String: String] = [:]
    /// The same accounts by the confusable skeleton of their names (`Nickname.shapeKey`): a
    /// look-alike of an account's nick (`aIice` for `alice`) is that account's too.
    var accountShapes: [String: String] = [:]
    /// Whether accounts can be used (they are kept in the history store).
    public internal(set) var accountsAvailable = false
    /// Failed sign-ins, per account and per address.
    public var signIns = SignInLimiter()
    /// Those whose nick is an account they are not signed in to, and when they must have signed
    /// in by or be renamed to a guest nick (`protectNicks`). Kept apart from the clients, so
    /// that the once-a-second check looks at these few and not at everyone.
    public internal(set) var signInDeadlines: [SessionID: Timestamp] = [:]
    /// `accounts.graceSeconds`: how long someone may use a registered nick without signing in to it.
    public var accountGraceSeconds = 60
    /// `accounts.required`: only those signed in may talk.
    public var accountsRequired = false
    /// Nick and address bans; registration and nick changes consult it.
    public var bans = BanList()
    /// Room and private messages relayed since start.
    public private(set) var messagesRelayed: UInt64 = 0
    /// The most registered clients at once since start.
    public private(set) var peakClients = 0
    private var lastEventID: UInt64 = 0

    public init(limits: Limits, defaultRoom: RoomName, shardCount: Int) {
        precondition(shardCount > 0 && shardCount <= ShardSet.capacity, "1 to \(ShardSet.capacity) event loops")
        self.limits = limits
        self.defaultRoom = defaultRoom
        self.shardCount = shardCount
    }

    /// Event ids continue after `newest` (the history store's newest, after a restart), so an
    /// id names one event for good.
    public mutating func continueEventIDs(after newest: UInt64) {
        lastEventID = max(lastEventID, newest)
    }

    /// The newest event id given so far.
    public var newestEventID: UInt64 { lastEventID }

    /// Keeps a room line for the scrollback of whoever joins next.
    mutating func remember(_ line: HistoryRecord) {
        guard scrollbackLines > 0 else { return }
        // In place, O(1): this runs for every message, under the hub's lock.
        scrollback[line.roomKey, default: Scrollback()].append(line, keeping: scrollbackLines)
    }

    /// The scrollback kept from before a restart (the history store's newest lines per room,
    /// oldest first).
    public mutating func seedScrollback(_ lines: [HistoryRecord]) {
        for line in lines.sorted(by: { $0.id < $1.id }) { remember(line) }
    }

    /// The topics kept from before a restart.
    public mutating func seedTopics(_ stored: [StoredTopic]) {
        for entry in stored { topics[entry.roomKey] = entry.topic }
    }

    /// Drops the scrollback lines `purge` matches (an operator's purge, at the same instant the
    /// store is told to remove them), so they are never replayed; returns how many.
    @discardableResult
    public mutating func forget(_ purge: HistoryPurge) -> Int {
        forget(where: purge.matches)
    }

    /// Drops the scrollback lines sent before `cutoff` (retention); returns how many.
    @discardableResult
    public mutating func forget(before cutoff: Timestamp) -> Int {
        forget { $0.time < cutoff }
    }

    private mutating func forget(where drop: (HistoryRecord) -> Bool) -> Int {
        var dropped = 0
        for (key, ring) in scrollback {
            let lines = ring.lines
            let kept = lines.filter { !drop($0) }
            guard kept.count < lines.count else { continue }
            dropped += lines.count - kept.count
            var fresh = Scrollback()
            for line in kept { fresh.append(line, keeping: scrollbackLines) }
            scrollback[key] = kept.isEmpty ? nil : fresh
        }
        return dropped
    }

    /// A new event with the next id.
    public mutating func event(_ kind: Event.Kind, at now: Timestamp, re: RequestID? = nil) -> Event {
        lastEventID += 1
        return Event(id: lastEventID, time: now, re: re, kind)
    }

    // MARK: Registration and nicknames

    /// Registers a connection under `rawNick` and puts it in the default room.
    public mutating func register(
        _ id: SessionID, nick rawNick: String, shard: Int, address: String = "", kind: ClientKind = .line, account: String? = nil,
        at now: Timestamp, re: RequestID? = nil
    ) -> Result<[Delivery], NickError> {
        precondition(clients[id] == nil, "session \(id) registered twice")
        precondition(shard < shardCount, "shard \(shard) out of range")
        let nick: Nickname
        switch claimable(rawNick, at: now) {
        case .success(let n): nick = n
        case .failure(let error): return .failure(error)
        }
        for key in nick.keys { nicks[key] = id }
        clients[id] = Client(
            nick: nick, shard: shard, rooms: [], currentRoom: nil, connectedAt: now, address: address, kind: kind, lastMessageAt: now)
        // Signed in before registering (IRC's SASL), to an account that is still there.
        if let account, case .success(let name) = Nickname.validate(account, maxLength: 1000), let kept = self.account(for: name) {
            clients[id]?.account = kept
        }
        peakClients = max(peakClients, clients.count)
        var out: [Delivery] = [.event(event(.welcome(nick: nick.display, room: defaultRoom.display), at: now, re: re), to: .session(id))]
        enter(id, defaultRoom, at: now, into: &out)
        out += protectNick(id, at: now)
        return .success(out)
    }

    func claimable(_ rawNick: String, for id: SessionID? = nil, at now: Timestamp) -> Result<Nickname, NickError> {
        switch Nickname.validate(rawNick, maxLength: limits.maxNickLength) {
        case .failure(let error): return .failure(error)
        case .success(let nick):
            if let ban = nick.keys.lazy.compactMap({ self.bans.matching(nickKey: $0, at: now) }).first {
                return .failure(.banned(reason: ban.reason))
            }
            if let holder = nick.keys.lazy.compactMap({ self.nicks[$0] }).first(where: { $0 != id }), let client = clients[holder] {
                return .failure(.inUse(client.nick.display))
            }
            return .success(nick)
        }
    }

    /// Who holds `nick`: by its key, else by its shape (`aIice` finds `alice`).
    func holder(of nick: Nickname) -> SessionID? {
        nicks[nick.key] ?? nicks[nick.shapeKey]
    }

    /// The registered client called `rawNick` (by its key or its shape); or the refusal.
    func someone(_ rawNick: String) -> Result<(id: SessionID, client: Client), Failure> {
        guard case .success(let nick) = Nickname.validate(rawNick, maxLength: 1000), let id = holder(of: nick), let client = clients[id]
        else {
            return .failure(Failure(code: .noSuchNick, message: "There is nobody called \(Sanitizer.cleanArgument(rawNick)) here."))
        }
        return .success((id, client))
    }

    /// The member of `room` called `rawNick`; or the refusal (nobody, or not in the room).
    func member(_ rawNick: String, of room: Room) -> Result<(id: SessionID, client: Client), Failure> {
        someone(rawNick).flatMap { found in
            room.members.contains(found.id)
                ? .success(found)
                : .failure(Failure(code: .userNotInRoom, message: "\(found.client.nick.display) is not in \(room.name.display)."))
        }
    }

    /// Changes a registered client's nick; everyone sharing a room with it is told once.
    public mutating func changeNick(_ id: SessionID, to rawNick: String, at now: Timestamp, re: RequestID? = nil) -> [Delivery] {
        guard var client = clients[id] else { return [] }
        let nick: Nickname
        switch claimable(rawNick, for: id, at: now) {
        case .success(let n): nick = n
        case .failure(let problem): return [refusal(problem.code, problem.description, id, now, re)]
        }
        if nick.display == client.nick.display {
            return [.event(event(.notice(text: "You are already \(nick.display)."), at: now, re: re), to: .session(id))]
        }
        let old = client.nick
        for key in old.keys { nicks[key] = nil }
        for key in nick.keys { nicks[key] = id }
        client.nick = nick
        clients[id] = client
        let change = event(.nickChange(old: old.display, new: nick.display), at: now, re: re)
        let renamed = Delivery.renamed(id, nick: nick.display, shard: client.shard)
        let told: Audience = client.rooms.count == 1 ? roomAudience(client.rooms[0].key) : .sessions([id] + coMembers(of: id))
        return [.event(change, to: told), renamed] + protectNick(id, at: now)
    }

    // MARK: Rooms

    /// Joins a room (creating it), or makes it the current room if already a member.
    public mutating func join(
        _ id: SessionID, room rawRoom: String, key: String? = nil, at now: Timestamp, re: RequestID? = nil
    ) -> [Delivery] {
        guard let client = clients[id] else { return [] }
        let room: RoomName
        switch RoomName.validate(rawRoom, maxLength: limits.maxRoomNameLength) {
        case .success(let r): room = r
        case .failure(let e): return [refusal(.roomInvalid, e.description, id, now, re)]
        }
        if client.rooms.contains(room) {
            if client.currentRoom == room {
                return [.event(event(.notice(text: "You are already in \(room.display)."), at: now, re: re), to: .session(id))]
            }
            let existing = rooms[room.key]?.name ?? room
            clients[id]?.currentRoom = existing
            return [
                .current(id, room: existing.key, shard: client.shard),
                .event(event(.current(room: existing.display), at: now, re: re), to: .session(id)),
            ]
        }
        if client.rooms.count >= limits.maxRoomsPerClient {
            return [refusal(.tooManyRooms, "You are in \(client.rooms.count) rooms, the most allowed: /part one first.", id, now, re)]
        }
        if let existing = rooms[room.key], !existing.invited.contains(id) {
            if existing.modes.contains(.inviteOnly) {
                return [
                    refusal(.inviteOnly, "\(existing.name.display) is invite-only: one of its operators must /invite you.", id, now, re)
                ]
            }
            if let wanted = existing.key, wanted != key {
                let problem = key == nil ? "needs a key: /join \(existing.name.display) KEY" : "has another key"
                return [refusal(.badKey, "\(existing.name.display) \(problem).", id, now, re)]
            }
        }
        var out: [Delivery] = []
        enter(id, room, at: now, re: re, into: &out)
        return out
    }

    private mutating func enter(_ id: SessionID, _ requested: RoomName, at now: Timestamp, re: RequestID? = nil, into out: inout [Delivery])
    {
        guard var client = clients[id] else { return }
        let key = requested.key
        if rooms[key] == nil {
            // A room's creator is its operator, except in the default room, which everyone
            // lands in: nobody owns it by arriving first.
            var created = Room(name: requested, members: [], shardCounts: Array(repeating: 0, count: shardCount))
            created.createdAt = now
            if requested == defaultRoom {
                created.modes = .defaultRoom
            } else {
                created.roles[id] = .op
            }
            rooms[key] = created
        } else if !rooms[key]!.invited.isEmpty {
            rooms[key]!.invited.removeAll { $0 == id }
        }
        // In place: a copy of the room would copy its member set, O(members) for each join.
        rooms[key]!.members.insert(id)
        rooms[key]!.shardCounts[client.shard] += 1
        let room = rooms[key]!
        client.rooms.append(room.name)
        client.currentRoom = room.name
        clients[id] = client
        out.append(.added(id, room: room.name.key, shard: client.shard))
        out.append(.current(id, room: room.name.key, shard: client.shard))
        // Scrollback comes before the join notice, except for IRC, where a channel's lines may
        // only follow the client's own JOIN and the names (as IRC servers replay history).
        var history: Delivery?
        if let lines = scrollback[room.name.key]?.lines, !lines.isEmpty {
            history = .event(event(.history(room: room.name.display, lines: lines), at: now, re: re), to: .session(id))
        }
        let historyLast = client.kind == .irc
        if let history, !historyLast { out.append(history) }
        let announced = announces(room)
        out.append(
            .event(
                event(.join(room: room.name.display, nick: client.nick.display), at: now, re: re),
                to: announced ? roomAudience(room.name.key) : .session(id)))
        if let topic = topics[room.name.key] {
            out.append(.event(event(.topic(room: room.name.display, topic: topic, changedBy: nil), at: now, re: re), to: .session(id)))
        }
        if room.members.count <= Self.memberListOnJoinLimit {
            out.append(.event(whoEvent(room, at: now, re: re), to: .session(id)))
        } else {
            var text = "\(room.name.display) has \(room.members.count) users: /who \(room.name.display) lists them."
            if !announced { text += " Joins and departures are not announced in a room this size." }
            out.append(.event(event(.notice(text: text), at: now, re: re), to: .session(id)))
        }
        if let history, historyLast { out.append(history) }
    }

    /// Whether joins, parts and quits in `room` (counting the member coming or going) are told
    /// to the whole room. Above `limits.maxAnnouncedRoomSize` members they are told only to the
    /// member concerned: in a room of thousands they would be most of its traffic, and N people
    /// joining would cost O(N²) notices.
    func announces(_ room: Room) -> Bool {
        room.members.count <= limits.maxAnnouncedRoomSize
    }

    /// Up to this many members, joining a room shows who is in it; above it, just the count, so
    /// that N people joining one room does not cost O(N²) bytes of member lists.
    public static let memberListOnJoinLimit = 200

    /// Leaves a room: the current one when `rawRoom` is nil.
    public mutating func part(
        _ id: SessionID, room rawRoom: String?, reason: String?, at now: Timestamp, re: RequestID? = nil
    ) -> [Delivery] {
        guard let client = clients[id] else { return [] }
        let room: RoomName
        switch resolve(rawRoom, for: client) {
        case .success(let r): room = r
        case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
        }
        let announced = rooms[room.key].map(announces) ?? false
        var out: [Delivery] = [
            .event(
                event(.part(room: room.display, nick: client.nick.display, reason: reason), at: now, re: re),
                to: announced ? roomAudience(room.key) : .session(id))
        ]
        leave(id, room, at: now, into: &out)
        return out
    }

    /// Takes `id` out of `room` (a part, a kick) and tells it where it is now talking.
    mutating func leave(_ id: SessionID, _ room: RoomName, at now: Timestamp, into out: inout [Delivery]) {
        let wasCurrent = clients[id]?.currentRoom == room
        guard let shard = removeMembership(id, room), let client = clients[id] else { return }
        out.append(.removed(id, room: room.key, shard: shard))
        if client.currentRoom != room {
            out.append(.current(id, room: client.currentRoom?.key, shard: shard))
        }
        if let current = client.currentRoom {
            // Only a change is told: leaving another room leaves the current one as it was.
            if wasCurrent { out.append(.event(event(.current(room: current.display), at: now), to: .session(id))) }
        } else {
            out.append(.event(event(.notice(text: "You are not in any room now: /join #room to talk."), at: now), to: .session(id)))
        }
    }

    /// Takes `id` out of `room` (dropping the room when it empties); returns the client's shard.
    private mutating func removeMembership(_ id: SessionID, _ room: RoomName) -> Int? {
        guard var client = clients[id], rooms[room.key] != nil else { return nil }
        // In place, as in `enter`: a copy would copy the member set.
        rooms[room.key]!.members.remove(id)
        rooms[room.key]!.roles[id] = nil
        rooms[room.key]!.shardCounts[client.shard] -= 1
        if rooms[room.key]!.members.isEmpty { rooms[room.key] = nil }
        client.rooms.removeAll { $0 == room }
        if client.currentRoom == room { client.currentRoom = client.rooms.last }
        clients[id] = client
        return client.shard
    }

    struct Failure: Error {
        var code: ErrorCode
        var message: String
    }

    /// A room named for a query (any room, not only the client's: it may not exist), or its
    /// current one; `command` is the query's, for the refusal's example.
    func shown(_ rawRoom: String?, for client: Client, asIn command: String) -> Result<RoomName, Failure> {
        guard let rawRoom else {
            guard let current = client.currentRoom else {
                return .failure(Failure(code: .noRoom, message: "You are not in any room: name one, as in \(command) #lobby."))
            }
            return .success(current)
        }
        switch RoomName.validate(rawRoom, maxLength: limits.maxRoomNameLength) {
        case .success(let r): return .success(r)
        case .failure(let e): return .failure(Failure(code: .roomInvalid, message: e.description))
        }
    }

    /// The room named `rawRoom`, which the client must be in; its current room when nil.
    func resolve(_ rawRoom: String?, for client: Client) -> Result<RoomName, Failure> {
        guard let rawRoom else {
            guard let current = client.currentRoom else {
                return .failure(Failure(code: .noRoom, message: "You are not in any room: /join #room first."))
            }
            return .success(current)
        }
        switch RoomName.validate(rawRoom, maxLength: limits.maxRoomNameLength) {
        case .failure(let e): return .failure(Failure(code: .roomInvalid, message: e.description))
        case .success(let room):
            guard let name = client.rooms.first(where: { $0 == room }) else {
                guard rooms[room.key] != nil else {
                    return .failure(Failure(code: .noSuchRoom, message: "There is no room \(room.display)."))
                }
                return .failure(Failure(code: .notInRoom, message: "You are not in \(room.display)."))
            }
            return .success(name)
        }
    }

    // MARK: Talking

    /// A message or action to a room the client is in (its current room when `rawRoom` is nil).
    public mutating func say(
        _ id: SessionID, text: String, room rawRoom: String?, action: Bool = false, at now: Timestamp, re: RequestID? = nil
    ) -> [Delivery] {
        guard let client = clients[id] else { return [] }
        let room: RoomName
        switch resolve(rawRoom, for: client) {
        case .success(let r): room = r
        case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
        }
        if let refused = silenced(id, in: room, at: now, re: re) { return [refused] }
        rooms[room.key]?.messages += 1
        messagesRelayed += 1
        clients[id]?.lastMessageAt = now
        let nick = client.nick.display
        let kind: Event.Kind =
            action
            ? .action(room: room.display, from: nick, text: text) : .message(room: room.display, from: nick, text: text)
        var message = event(kind, at: now, re: re)
        message.account = client.account
        remember(HistoryRecord(id: message.id, time: now, room: room.display, roomKey: room.key, from: nick, text: text, isAction: action))
        return [.event(message, to: roomAudience(room.key, sender: id))]
    }

    /// The refusal for a member without a role talking in a moderated room; nil if it may talk.
    private mutating func silenced(_ id: SessionID, in room: RoomName, at now: Timestamp, re: RequestID?) -> Delivery? {
        guard let entry = rooms[room.key], entry.modes.contains(.moderated), entry.role(of: id).isEmpty else { return nil }
        return refusal(.moderated, "\(room.display) is moderated: only its operators and voiced members may talk.", id, now, re)
    }

    /// A private message to the client registered as `rawNick`.
    public mutating func privateMessage(
        _ id: SessionID, to rawNick: String, text: String, at now: Timestamp, re: RequestID? = nil
    ) -> [Delivery] {
        var away: (nick: String, message: String)?
        var out = direct(id, to: rawNick, at: now, re: re) { from, to, recipient in
            away = recipient.away.map { (recipient.nick.display, $0) }
            return .privateMessage(from: from, to: to, text: text)
        }
        if let away { out.append(.event(event(.away(nick: away.nick, message: away.message), at: now, re: re), to: .session(id))) }
        return out
    }

    /// What `id` says to one person (`kind` of the sender's and the recipient's nicks): the
    /// recipient's copy, and the sender's own (with the request's id); or the refusal.
    private mutating func direct(
        _ id: SessionID, to rawNick: String, at now: Timestamp, re: RequestID?, _ kind: (String, String, Client) -> Event.Kind
    ) -> [Delivery] {
        guard let client = clients[id] else { return [] }
        let (targetID, recipient): (SessionID, Client)
        switch someone(rawNick) {
        case .success(let found): (targetID, recipient) = found
        case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
        }
        messagesRelayed += 1
        clients[id]?.lastMessageAt = now
        var said = event(kind(client.nick.display, recipient.nick.display, recipient), at: now, re: re)
        said.account = client.account
        var recipientCopy = said
        recipientCopy.re = nil
        return [.event(recipientCopy, to: .session(targetID)), .event(said, to: .echo(id))]
    }

    /// `/away`: marks the client away with `message` (told to whoever messages it, and in
    /// `/whois`), or back when it is nil. Only the client is told.
    public mutating func away(_ id: SessionID, message: String?, at now: Timestamp, re: RequestID? = nil) -> [Delivery] {
        guard let client = clients[id] else { return [] }
        let changed = client.away != message
        clients[id]?.away = message
        var out: [Delivery] = [.event(event(.awaySet(message: message), at: now, re: re), to: .session(id))]
        // IRC clients that share a room are told (`away-notify`); nobody else shows it.
        let listeners = changed ? coMembers(of: id).filter { clients[$0]?.kind == .irc } : []
        if !listeners.isEmpty {
            out.append(.event(event(.awayChanged(nick: client.nick.display, message: message), at: now), to: .sessions(listeners)))
        }
        return out
    }

    /// A notice to a room the client is in (`to` starts with `#`) or to someone: delivered as a
    /// message is, but neither kept in history nor answered with an away message.
    public mutating func notice(_ id: SessionID, to target: String, text: String, at now: Timestamp, re: RequestID? = nil) -> [Delivery] {
        guard let client = clients[id] else { return [] }
        if target.hasPrefix("#") {
            switch resolve(target, for: client) {
            case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
            case .success(let room):
                if let refused = silenced(id, in: room, at: now, re: re) { return [refused] }
                messagesRelayed += 1
                clients[id]?.lastMessageAt = now
                var notice = event(.userNotice(from: client.nick.display, to: room.display, text: text), at: now, re: re)
                notice.account = client.account
                return [.event(notice, to: roomAudience(room.key, sender: id))]
            }
        }
        return direct(id, to: target, at: now, re: re) { from, to, _ in .userNotice(from: from, to: to, text: text) }
    }

    // MARK: Queries

    public mutating func who(_ id: SessionID, room rawRoom: String?, at now: Timestamp, re: RequestID? = nil) -> [Delivery] {
        guard let client = clients[id] else { return [] }
        let name: RoomName
        switch shown(rawRoom, for: client, asIn: "/who") {
        case .success(let r): name = r
        case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
        }
        guard let room = rooms[name.key] else {
            return [refusal(.noSuchRoom, "There is no room \(name.display).", id, now, re)]
        }
        return [.event(whoEvent(room, at: now, re: re), to: .session(id))]
    }

    private mutating func whoEvent(_ room: Room, at now: Timestamp, re: RequestID?) -> Event {
        let members = room.members.compactMap { clients[$0]?.nick.display }.sorted {
            $0.lowercased() == $1.lowercased() ? $0 < $1 : $0.lowercased() < $1.lowercased()
        }
        var roles: [String: RoomRole] = [:]
        for (member, role) in room.roles {
            if let nick = clients[member]?.nick.display { roles[nick] = role }
        }
        return event(.who(room: room.name.display, members: members, roles: roles), at: now, re: re)
    }

    public mutating func listRooms(_ id: SessionID, at now: Timestamp, re: RequestID? = nil) -> [Delivery] {
        [.event(event(.rooms(roomSummaries), at: now, re: re), to: .session(id))]
    }

    /// Every room, by name.
    public var roomSummaries: [RoomSummary] {
        rooms.values.map { RoomSummary(name: $0.name.display, members: $0.members.count, topic: topics[$0.name.key]?.text) }.sorted {
            $0.name.lowercased() < $1.name.lowercased()
        }
    }

    // MARK: Leaving

    /// Removes a client (quit, disconnect, kick); everyone who shared a room with it is told once.
    /// With `notify` false (server shutdown), nobody is told.
    public mutating func disconnect(_ id: SessionID, reason: String, notify: Bool = true, at now: Timestamp) -> [Delivery] {
        guard let client = clients[id] else { return [] }
        // In one room (the common case) the notice is routed to that room: O(1) here, and one
        // shared buffer per loop. In several, each co-member is told once. Rooms too big to be
        // told of departures are left out.
        let announcedRooms = client.rooms.filter { rooms[$0.key].map(announces) ?? false }
        let coMembers = notify && client.rooms.count > 1 ? coMembers(of: id, in: announcedRooms) : []
        // No `.removed` deliveries: the session's own loop drops it from every table on close.
        for room in client.rooms { _ = removeMembership(id, room) }
        clients[id] = nil
        signInDeadlines[id] = nil
        for key in client.nick.keys { nicks[key] = nil }
        guard notify else { return [] }
        let audience: Audience
        if client.rooms.count == 1 {
            // Nobody to tell when it was the last member, or when the room is too big.
            guard rooms[client.rooms[0].key] != nil, !announcedRooms.isEmpty else { return [] }
            audience = roomAudience(client.rooms[0].key)
        } else {
            guard !coMembers.isEmpty else { return [] }
            audience = .sessions(coMembers)
        }
        return [.event(event(.quit(nick: client.nick.display, reason: reason), at: now), to: audience)]
    }

    /// Everyone else in any room with `id`, each once, in id order.
    public func coMembers(of id: SessionID) -> [SessionID] {
        coMembers(of: id, in: clients[id]?.rooms ?? [])
    }

    /// Everyone else in any of `rooms`, each once, in id order.
    func coMembers(of id: SessionID, in rooms: [RoomName]) -> [SessionID] {
        var seen: Set<SessionID> = [id]
        for room in rooms { seen.formUnion(self.rooms[room.key]?.members ?? []) }
        seen.remove(id)
        return seen.sorted()
    }

    /// The room's members as they are now.
    func roomAudience(_ key: String, sender: SessionID? = nil) -> Audience {
        .room(key, sender: sender, shards: ShardSet(counts: rooms[key]?.shardCounts ?? []))
    }

    mutating func refusal(_ code: ErrorCode, _ message: String, _ id: SessionID, _ now: Timestamp, _ re: RequestID?) -> Delivery {
        .event(event(.error(code: code, message: message), at: now, re: re), to: .session(id))
    }
}
