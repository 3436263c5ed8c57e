extension JSONFormat {
    /// Reads one event line back: the inverse of `render`, for the clients.
    ///
    /// Every string is sanitized on the way in, so a client shows nothing a hostile or broken
    /// server could use to move its cursor or rewrite its screen. Unknown members are ignored
    /// (a newer server may add some); a missing or mistyped member is an error.
    public static func parse(_ line: [UInt8]) -> Result<Event, JSONParseError> {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes: line)
        } catch {
            return .failure(error)
        }
        guard let object = value.objectValue else { return .failure(problem("expected an event object, got \(value.typeName)")) }
        do {
            return .success(try event(from: object))
        } catch {
            return .failure(error)
        }
    }

    private static func problem(_ message: String) -> JSONParseError {
        JSONParseError(message: message, line: 1, column: 1)
    }

    private static func event(from object: JSONObject) throws(JSONParseError) -> Event {
        func string(_ key: String) throws(JSONParseError) -> String {
            guard case .string(let s)? = object[key] else { throw problem("member \"\(key)\" must be a string") }
            return Sanitizer.clean(s)
        }
        func optionalString(_ key: String) throws(JSONParseError) -> String? {
            object[key] == nil || object[key] == .null ? nil : try string(key)
        }
        func strings(_ key: String) throws(JSONParseError) -> [String] {
            guard case .array(let values)? = object[key] else { throw problem("member \"\(key)\" must be an array") }
            var result: [String] = []
            for value in values {
                guard case .string(let s) = value else { throw problem("member \"\(key)\" must hold strings") }
                result.append(Sanitizer.clean(s))
            }
            return result
        }
        let type = try string("type")
        guard case .integer(let id)? = object["id"], id >= 0 else { throw problem("member \"id\" must be a non-negative integer") }
        guard let time = Timestamp(iso8601: try string("ts")) else { throw problem("member \"ts\" is not an RFC 3339 UTC time") }
        let kind: Event.Kind
        switch type {
        case "hello":
            var limits: ClientLimits?
            if let announced = object["limits"]?.objectValue {
                func number(_ key: String) -> Double? {
                    switch announced[key] {
                    case .integer(let i)?: Double(i)
                    case .double(let d)?: d
                    default: nil
                    }
                }
                if let line = number("maxLineBytes"), let burst = number("floodBurst"), let rate = number("floodRate"),
                    let queue = number("floodQueueLines"), line >= 1, line < 1e9, burst >= 0, burst < 1e9, queue >= 0, queue < 1e9
                {
                    limits = ClientLimits(maxLineBytes: Int(line), floodBurst: Int(burst), floodRate: rate, floodQueueLines: Int(queue))
                }
            }
            kind = .hello(server: try string("server"), version: try string("version"), motd: try strings("motd"), limits: limits)
        case "nick_required": kind = .nickRequired
        case "welcome": kind = .welcome(nick: try string("nick"), room: try string("room"))
        case "message": kind = .message(room: try string("room"), from: try string("from"), text: try string("text"))
        case "action": kind = .action(room: try string("room"), from: try string("from"), text: try string("text"))
        case "private": kind = .privateMessage(from: try string("from"), to: try string("to"), text: try string("text"))
        case "user_notice": kind = .userNotice(from: try string("from"), to: try string("to"), text: try string("text"))
        case "join": kind = .join(room: try string("room"), nick: try string("nick"))
        case "part": kind = .part(room: try string("room"), nick: try string("nick"), reason: try optionalString("reason"))
        case "quit": kind = .quit(nick: try string("nick"), reason: try string("reason"))
        case "nick": kind = .nickChange(old: try string("old"), new: try string("new"))
        case "current": kind = .current(room: try string("room"))
        case "notice": kind = .notice(text: try string("text"))
        case "announcement": kind = .announcement(text: try string("text"), room: try optionalString("room"))
        case "error": kind = .error(code: ErrorCode(rawValue: try string("code")), message: try string("message"))
        case "who":
            var roles: [String: RoomRole] = [:]
            for (nick, value) in object["roles"]?.objectValue?.members ?? [] {
                guard case .array(let names) = value else { throw problem("each of \"roles\" must be an array") }
                var role: RoomRole = []
                for case .string(let name) in names {
                    if name == "op" { role.insert(.op) }
                    if name == "voice" { role.insert(.voice) }
                }
                if !role.isEmpty { roles[Sanitizer.clean(nick)] = role }
            }
            kind = .who(room: try string("room"), members: try strings("members"), roles: roles)
        case "kick":
            kind = .kick(room: try string("room"), nick: try string("nick"), by: try string("by"), reason: try optionalString("reason"))
        case "mode":
            guard case .array(let values)? = object["changes"] else { throw problem("member \"changes\" must be an array") }
            var changes: [RoomModeChange] = []
            for value in values {
                guard case .string(let mode)? = value["mode"], mode.count == 2, let sign = mode.first, sign == "+" || sign == "-",
                    let letter = mode.last
                else { throw problem("each of \"changes\" needs a \"mode\" such as \"+o\"") }
                let argument: String? = if case .string(let a)? = value["arg"] { Sanitizer.clean(a) } else { nil }
                changes.append(RoomModeChange(adding: sign == "+", letter: letter, argument: argument))
            }
            kind = .modeChange(room: try string("room"), by: try optionalString("by"), changes: changes)
        case "modes":
            guard let createdAt = Timestamp(iso8601: try string("createdAt")) else {
                throw problem("member \"createdAt\" is not an RFC 3339 UTC time")
            }
            var modes: RoomModes = []
            for letter in try string("modes") { if let mode = RoomModes(letter: letter) { modes.insert(mode) } }
            kind = .modes(room: try string("room"), modes: modes, key: try optionalString("key"), createdAt: createdAt)
        case "invite": kind = .invite(room: try string("room"), from: try string("from"), to: try string("to"))
        case "history":
            let room = try string("room")
            guard case .array(let values)? = object["lines"] else { throw problem("member \"lines\" must be an array") }
            var lines: [HistoryRecord] = []
            for value in values {
                guard let line = HistoryRecord(json: value, room: room) else {
                    throw problem("each of \"lines\" needs \"id\", \"ts\", \"from\", \"text\" and \"action\"")
                }
                lines.append(line)
            }
            kind = .history(room: room, lines: lines)
        case "whois":
            guard let connectedAt = Timestamp(iso8601: try string("connectedAt")) else {
                throw problem("member \"connectedAt\" is not an RFC 3339 UTC time")
            }
            guard case .integer(let idle)? = object["idleSeconds"], idle >= 0 else {
                throw problem("member \"idleSeconds\" must be a non-negative integer")
            }
            kind = .whois(
                Whois(
                    nick: try string("nick"), rooms: try strings("rooms"), connectedAt: connectedAt, idleSeconds: Int(idle),
                    client: try string("client"), away: try optionalString("away"), account: try optionalString("account")))
        case "away_set":
            kind = .awaySet(message: try optionalString("text"))
        case "away":
            kind = .away(nick: try string("nick"), message: try string("text"))
        case "account": kind = .account(name: try optionalString("name"))
        case "away_changed":
            kind = .awayChanged(nick: try string("nick"), message: try optionalString("text"))
        case "topic":
            let text = try string("text")
            var topic: RoomTopic?
            if !text.isEmpty {
                guard let setAt = Timestamp(iso8601: try string("setAt")) else {
                    throw problem("member \"setAt\" is not an RFC 3339 UTC time")
                }
                topic = RoomTopic(text: text, setBy: try string("setBy"), setAt: setAt)
            }
            kind = .topic(room: try string("room"), topic: topic, changedBy: try optionalString("changedBy"))
        case "rooms":
            guard case .array(let values)? = object["rooms"] else { throw problem("member \"rooms\" must be an array") }
            var rooms: [RoomSummary] = []
            for value in values {
                guard case .string(let name)? = value["name"], case .integer(let members)? = value["members"] else {
                    throw problem("each of \"rooms\" needs a string \"name\" and an integer \"members\"")
                }
                let topic: String? = if case .string(let t)? = value["topic"] { Sanitizer.clean(t) } else { nil }
                rooms.append(RoomSummary(name: Sanitizer.clean(name), members: Int(members), topic: topic))
            }
            kind = .rooms(rooms)
        case "online": kind = .online(nicks: try strings("nicks"), away: try strings("away"))
        case "counts":
            func count(_ key: String) throws(JSONParseError) -> Int {
                guard case .integer(let n)? = object[key], n >= 0 else { throw problem("member \"\(key)\" must be a non-negative integer") }
                return Int(n)
            }
            kind = .counts(users: try count("users"), rooms: try count("rooms"), peak: try count("peak"))
        case "help": kind = .help(try strings("lines"))
        case "pong": kind = .pong(token: try optionalString("token"))
        case "bye": kind = .bye(reason: try string("reason"), code: try optionalString("code").flatMap(ByeCode.init(rawValue:)))
        default: throw problem("unknown event type \"\(String(type.prefix(32)))\"")
        }
        let re: RequestID?
        switch object["re"] {
        case nil: re = nil
        case .string(let text)?: re = .string(text)
        case .integer(let number)?: re = .integer(number)
        case let other?: throw problem("member \"re\" must be a string or an integer, got \(other.typeName)")
        }
        return Event(id: UInt64(id), time: time, re: re, kind, account: try optionalString("account"))
    }
}
