/// The typed results of admin commands, with their JSON forms (docs/ADMIN.md). The daemon
/// builds them, chatctl reads them back to print tables.

/// One connected, registered client (`who`).
public struct ClientInfo: Equatable, Sendable {
    public var nick: String
    public var address: String
    public var rooms: [String]
    public var connectedAt: Timestamp
    public var idleSeconds: Int
    /// `line` (telnet/nc), `json`, or `websocket`.
    public var kind: String

    public init(nick: String, address: String, rooms: [String], connectedAt: Timestamp, idleSeconds: Int, kind: String) {
        self.nick = nick
        self.address = address
        self.rooms = rooms
        self.connectedAt = connectedAt
        self.idleSeconds = idleSeconds
        self.kind = kind
    }

    public var json: JSONValue {
        .object(
            JSONObject([
                ("nick", .string(nick)), ("address", .string(address)), ("rooms", .array(rooms.map(JSONValue.string))),
                ("connectedAt", .string(connectedAt.iso8601)), ("idleSeconds", .integer(Int64(idleSeconds))), ("kind", .string(kind)),
            ]))
    }

    public init?(json: JSONValue) {
        guard let o = json.objectValue, let nick = o.string("nick"), let address = o.string("address"),
            let connected = o.string("connectedAt"),
            let idle = o.int("idleSeconds"), let kind = o.string("kind"), case .array(let rooms)? = o["rooms"]
        else { return nil }
        self.init(
            nick: nick, address: address, rooms: rooms.compactMap(\.stringValue),
            connectedAt: Timestamp(iso8601: connected) ?? Timestamp(milliseconds: 0),
            idleSeconds: idle, kind: kind)
    }
}

/// One room (`rooms`).
public struct RoomInfo: Equatable, Sendable {
    public var name: String
    public var members: Int
    public var messages: Int
    public var topic: String?

    public init(name: String, members: Int, messages: Int, topic: String? = nil) {
        self.name = name
        self.members = members
        self.messages = messages
        self.topic = topic
    }

    public var json: JSONValue {
        var object = JSONObject([("name", .string(name)), ("members", .integer(Int64(members))), ("messages", .integer(Int64(messages)))])
        if let topic { object.append("topic", .string(topic)) }
        return .object(object)
    }

    public init?(json: JSONValue) {
        guard let o = json.objectValue, let name = o.string("name"), let members = o.int("members"), let messages = o.int("messages") else {
            return nil
        }
        self.init(name: name, members: members, messages: messages, topic: o.string("topic").map(Sanitizer.clean))
    }
}

/// The daemon's counters (`stats`).
public struct ServerStats: Equatable, Sendable {
    public var uptimeSeconds = 0
    /// Registered clients now, and the most at once since start.
    public var clients = 0
    public var peakClients = 0
    /// Open connections, registered or not.
    public var connections = 0
    /// Of those, the idle ones parked off their event loop (`limits.parkIdleSeconds`).
    public var parked = 0
    /// Open connections by the listener they came in on: `chat`, `tls`, `web`, `web-tls`.
    public var listeners: [String: Int] = [:]
    /// Nicknames granted to new connections since start.
    public var registrations = 0
    /// Accepted connections that ended, by why (`quit`, `closed`, `flood`, `send_queue`, ...).
    public var disconnects: [String: Int] = [:]
    public var rooms = 0
    /// Room and private messages received from clients and relayed.
    public var messages = 0
    /// Events (lines) delivered to clients: every copy of every message, notice and reply.
    public var delivered = 0
    public var bytesIn = 0
    public var bytesOut = 0
    public var accepted = 0
    /// Connections refused, by reason (`banned`, `draining`, ...).
    public var refused: [String: Int] = [:]
    public var draining = false
    /// `on`, `off`, or `degraded: why` (room lines are not being kept).
    public var history = "off"
    /// Room lines written to the history store since start, and lost to a failing store.
    public var historyWritten = 0
    public var historyDropped = 0

    public init() {}

    public var json: JSONValue {
        func counts(_ counts: [String: Int]) -> JSONValue {
            .object(JSONObject(counts.sorted { $0.key < $1.key }.map { ($0.key, .integer(Int64($0.value))) }))
        }
        return .object(
            JSONObject([
                ("uptimeSeconds", .integer(Int64(uptimeSeconds))), ("clients", .integer(Int64(clients))),
                ("peakClients", .integer(Int64(peakClients))), ("connections", .integer(Int64(connections))),
                ("parked", .integer(Int64(parked))), ("listeners", counts(listeners)),
                ("registrations", .integer(Int64(registrations))), ("disconnects", counts(disconnects)),
                ("rooms", .integer(Int64(rooms))), ("messages", .integer(Int64(messages))), ("delivered", .integer(Int64(delivered))),
                ("bytesIn", .integer(Int64(bytesIn))),
                ("bytesOut", .integer(Int64(bytesOut))), ("accepted", .integer(Int64(accepted))), ("refused", counts(refused)),
                ("draining", .bool(draining)), ("history", .string(history)),
                ("historyWritten", .integer(Int64(historyWritten))), ("historyDropped", .integer(Int64(historyDropped))),
            ]))
    }

    public init?(json: JSONValue) {
        guard let o = json.objectValue else { return nil }
        uptimeSeconds = o.int("uptimeSeconds") ?? 0
        clients = o.int("clients") ?? 0
        peakClients = o.int("peakClients") ?? 0
        connections = o.int("connections") ?? 0
        parked = o.int("parked") ?? 0
        func counts(_ key: String) -> [String: Int] {
            guard case .object(let object)? = o[key] else { return [:] }
            var counts: [String: Int] = [:]
            for member in object.members { counts[member.key] = object.int(member.key) ?? 0 }
            return counts
        }
        listeners = counts("listeners")
        registrations = o.int("registrations") ?? 0
        disconnects = counts("disconnects")
        rooms = o.int("rooms") ?? 0
        messages = o.int("messages") ?? 0
        delivered = o.int("delivered") ?? 0
        bytesIn = o.int("bytesIn") ?? 0
        bytesOut = o.int("bytesOut") ?? 0
        accepted = o.int("accepted") ?? 0
        refused = counts("refused")
        if case .bool(let d)? = o["draining"] { draining = d }
        history = o.string("history") ?? "off"
        historyWritten = o.int("historyWritten") ?? 0
        historyDropped = o.int("historyDropped") ?? 0
    }
}

extension JSONObject {
    public func string(_ key: String) -> String? { self[key]?.stringValue }

    public func int(_ key: String) -> Int? {
        if case .integer(let i)? = self[key] { return Int(i) }
        return nil
    }
}

extension Timestamp {
    /// To the minute, for people: `2026-11-21 23:59 UTC`.
    public var shortUTC: String {
        let iso = iso8601
        return "\(iso.prefix(10)) \(iso.dropFirst(11).prefix(5)) UTC"
    }

    /// A date an operator types, in UTC: `2026-11-21`, `2026-11-21T18:30`, `2026-11-21 18:30:15`,
    /// or the full form `iso8601` writes.
    public init?(date text: String) {
        if let full = Timestamp(iso8601: text) {
            self = full
            return
        }
        var text = Substring(text)
        if text.hasSuffix("Z") { text = text.dropLast() }
        let halves = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "T" || $0 == " " })
        guard halves.count <= 2 else { return nil }
        let date = halves[0].split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        let time = halves.count == 2 ? halves[1].split(separator: ":", omittingEmptySubsequences: false).map { Int($0) } : []
        guard date.count == 3, halves.count == 1 || (2...3).contains(time.count),
            case let numbers = (date + time).compactMap({ $0 }), numbers.count == date.count + time.count
        else { return nil }
        let (year, month, day) = (numbers[0], numbers[1], numbers[2])
        let clock = Array(numbers.dropFirst(3)) + Array(repeating: 0, count: 3 - time.count)
        guard (1970...9999).contains(year), (1...12).contains(month), (1...31).contains(day), (0...23).contains(clock[0]),
            (0...59).contains(clock[1]), (0...60).contains(clock[2])
        else { return nil }
        func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
        self.init(iso8601: "\(year)-\(two(month))-\(two(day))T\(two(clock[0])):\(two(clock[1])):\(two(clock[2])).000Z")
    }

    /// Parses the form `iso8601` writes (`2026-11-21T23:59:59.123Z`).
    public init?(iso8601 text: String) {
        let parts = text.split(whereSeparator: { "-T:.Z".contains($0) }).compactMap { Int($0) }
        guard parts.count == 7 else { return nil }
        let (year, month, day) = (parts[0], parts[1], parts[2])
        // Days from civil (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        let seconds = Int64(days) * 86_400 + Int64(parts[3] * 3600 + parts[4] * 60 + parts[5])
        self.init(milliseconds: seconds * 1000 + Int64(parts[6]))
    }
}
