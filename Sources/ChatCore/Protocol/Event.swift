/// Something the server tells a client. Rendered once per wire format (`TextFormat`,
/// `JSONFormat`) and shared by every recipient.
public struct Event: Equatable, Sendable {
    /// Server-assigned, unique, increasing; within a room, in the room's order.
    public var id: UInt64
    public var time: Timestamp
    /// The JSON request id this event answers, if any.
    public var re: RequestID?
    public var kind: Kind
    /// The account the sender of a message, action or notice was signed in to, if any: what a
    /// client may trust about who said it (JSON's `account`, IRC's `account-tag`).
    public var account: String?

    public init(id: UInt64, time: Timestamp, re: RequestID? = nil, _ kind: Kind, account: String? = nil) {
        self.id = id
        self.time = time
        self.re = re
        self.kind = kind
        self.account = account
    }

    public enum Kind: Equatable, Sendable {
        /// The greeting on connect, with the limits a client should pace itself by (JSON only).
        case hello(server: String, version: String, motd: [String], limits: ClientLimits? = nil)
        /// The server waits for a nickname.
        case nickRequired
        /// Registration succeeded: the client is `nick`, in `room`.
        case welcome(nick: String, room: String)
        case message(room: String, from: String, text: String)
        case action(room: String, from: String, text: String)
        case privateMessage(from: String, to: String, text: String)
        /// A notice from a user to a room (`to` starts with `#`) or to one person: shown like a
        /// message, and never answered by a program (IRC's `NOTICE`).
        case userNotice(from: String, to: String, text: String)
        case join(room: String, nick: String)
        case part(room: String, nick: String, reason: String?)
        case quit(nick: String, reason: String)
        case nickChange(old: String, new: String)
        /// The client's current room changed (text-mode plain lines go there).
        case current(room: String)
        /// A server notice to this client.
        case notice(text: String)
        /// An operator's announcement, to everyone (`room` nil) or to one room.
        case announcement(text: String, room: String?)
        case error(code: ErrorCode, message: String)
        /// A room's members, sorted, and the roles of those who have one.
        case who(room: String, members: [String], roles: [String: RoomRole] = [:])
        /// `by`, an operator, took `nick` out of `room`: told to the whole room, `nick` included.
        case kick(room: String, nick: String, by: String, reason: String?)
        /// `by`, an operator, changed the room's modes or its members' roles (`+o bob`, `+m`);
        /// nil: the server's operator (`chatctl mode`).
        case modeChange(room: String, by: String?, changes: [RoomModeChange])
        /// A room's modes, as asked for (`key` is `*` for someone not in the room).
        case modes(room: String, modes: RoomModes, key: String?, createdAt: Timestamp)
        /// `from` invites `to` into `room`: the invitee's copy, and the inviter's (an echo).
        case invite(room: String, from: String, to: String)
        /// The answer to `/whois`.
        case whois(Whois)
        /// The account the client is signed in to: `name`, or none (signed out, or the account
        /// was dropped).
        case account(name: String?)
        /// The client's own away status changed: away with `message`, or back (nil).
        case awaySet(message: String?)
        /// `nick`, who shares a room with the client, went away (with `message`) or came back
        /// (nil): told to IRC clients only, which show it with `away-notify`.
        case awayChanged(nick: String, message: String?)
        /// `nick`, whom the client just messaged, is away (with its message).
        case away(nick: String, message: String)
        /// A room's lines from before the client joined it (its scrollback), oldest first, with
        /// their own ids and times: history, not live traffic.
        case history(room: String, lines: [HistoryRecord])
        /// A room's topic: shown (on join, or asked for) when `changedBy` is nil; set or
        /// cleared (`topic` nil) by `changedBy` otherwise, told to the whole room.
        case topic(room: String, topic: RoomTopic?, changedBy: String?)
        case rooms([RoomSummary])
        /// The answer to `online`: those of the nicks asked about who are connected, as they are
        /// called, and which of them are away.
        case online(nicks: [String], away: [String])
        /// The answer to `counts`: clients connected, rooms, and the most clients at once since start.
        case counts(users: Int, rooms: Int, peak: Int)
        case help([String])
        case pong(token: String?)
        /// The server is closing this connection, and why.
        case bye(reason: String, code: ByeCode? = nil)
        /// An answer only the asking connection's dialect gives (IRC's `CAP`, `MOTD`,
        /// `VERSION`, …), named by the request's command and its arguments. The text and JSON
        /// dialects never ask for one, and render nothing.
        case reply(command: String, arguments: [String])
    }
}

/// The limits a JSON client needs to know to never trip them: `hello` announces them, so a client
/// can keep at most `floodQueueLines` requests in flight and refuse an overlong line itself.
public struct ClientLimits: Equatable, Sendable {
    public var maxLineBytes: Int
    public var floodBurst: Int
    public var floodRate: Double
    public var floodQueueLines: Int

    public init(maxLineBytes: Int, floodBurst: Int, floodRate: Double, floodQueueLines: Int) {
        self.maxLineBytes = maxLineBytes
        self.floodBurst = floodBurst
        self.floodRate = floodRate
        self.floodQueueLines = floodQueueLines
    }

    public init(_ limits: Limits) {
        self.init(
            maxLineBytes: limits.maxLineBytes, floodBurst: limits.floodBurst, floodRate: limits.floodRate,
            floodQueueLines: limits.floodQueueLines)
    }
}

/// What `/whois` tells of a registered client. Never its address: that is for operators
/// (`chatctl who`).
public struct Whois: Equatable, Sendable {
    public var nick: String
    /// Its rooms, in the order it joined them.
    public var rooms: [String]
    public var connectedAt: Timestamp
    /// Seconds since it last sent a room or private message (or connected).
    public var idleSeconds: Int
    /// What kind of client it is (`ClientKind`: `line`, `json`, `websocket`, or the program's name).
    public var client: String
    /// Its away message, when it is away.
    public var away: String?
    /// The account it is signed in to, if any.
    public var account: String?

    public init(
        nick: String, rooms: [String], connectedAt: Timestamp, idleSeconds: Int, client: String, away: String? = nil, account: String? = nil
    ) {
        self.account = account
        self.nick = nick
        self.rooms = rooms
        self.connectedAt = connectedAt
        self.idleSeconds = idleSeconds
        self.client = client
        self.away = away
    }
}

public struct RoomSummary: Equatable, Sendable {
    public var name: String
    public var members: Int
    public var topic: String?

    public init(name: String, members: Int, topic: String? = nil) {
        self.name = name
        self.members = members
        self.topic = topic
    }
}

/// Wall-clock time in milliseconds since the Unix epoch, passed into the core (the core never
/// reads a clock).
public struct Timestamp: Comparable, Hashable, Sendable {
    public var milliseconds: Int64

    public init(milliseconds: Int64) { self.milliseconds = milliseconds }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.milliseconds < rhs.milliseconds }

    /// RFC 3339 / ISO 8601 in UTC with milliseconds: `2026-11-21T23:59:59.123Z`.
    public var iso8601: String {
        let ms = Int(((milliseconds % 1000) + 1000) % 1000)
        let seconds = (milliseconds - Int64(ms)) / 1000
        var days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let secondOfDay = Int(seconds - Int64(days) * 86_400)
        // Civil from days (Howard Hinnant's algorithm).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(ms, 3))Z"
    }
}

/// A JSON request's `id`, echoed as the answer's `re` exactly as it came, with its JSON type: a
/// string of up to `maxLength` characters, or an integer.
public enum RequestID: Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    case string(String)
    case integer(Int64)

    /// The longest string id, in characters.
    public static let maxLength = 64

    public init(stringLiteral value: String) { self = .string(value) }

    public var description: String {
        switch self {
        case .string(let text): text
        case .integer(let number): String(number)
        }
    }
}

/// Why the server closed a connection, for programs (JSON `bye`'s `code`); `reason` says it in
/// words. A client should not reconnect on its own after `kicked` or `banned`.
public enum ByeCode: String, Sendable, CaseIterable {
    /// The client asked to leave.
    case quit
    /// An operator disconnected it (`chatctl kick`).
    case kicked
    /// Its address or nick is banned.
    case banned
    /// The server is shutting down.
    case shutdown
    /// It stopped answering (a WebSocket ping timeout).
    case timeout
    /// It broke a limit: flooding, overlong lines, no nickname in time, not reading.
    case policy
    /// Refused at connect for now: the server is full, too many connections, draining.
    case refused

    /// Whether a client may reconnect by itself after this.
    public var mayReconnect: Bool { self != .kicked && self != .banned && self != .quit }
}
