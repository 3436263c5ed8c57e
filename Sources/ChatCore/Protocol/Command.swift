/// What a client asked for, whichever wire format it used.
///
/// Both the text line protocol (`/join #dev`) and the JSON mode (`{"type":"join","room":"#dev"}`)
/// parse into this one type, so the rules behind each command exist once. Arguments are already
/// sanitized; names are not yet validated (that needs the limits and the directory).
public enum Command: Equatable, Sendable {
    /// A message to a room: the sender's current room when `room` is nil.
    case say(text: String, room: String?)
    /// A `/me` action.
    case action(text: String, room: String?)
    case privateMessage(to: String, text: String)
    /// A notice to a room (`#…`) or to someone: delivered like a message, but marked so that
    /// no program answers it (IRC's `NOTICE`).
    case notice(to: String, text: String)
    case nick(String)
    /// Joins a room, with its key when it has one (`+k`).
    case join(String, key: String? = nil)
    case part(room: String?, reason: String?)
    case rooms
    case who(room: String?)
    /// What the server says of a registered client: rooms, connected since, idle, client kind.
    case whois(nick: String)
    /// A room's kept lines (the current room when nil): the newest `limit` before the event id
    /// `before` (the newest of all when nil), or the oldest `limit` after `after`.
    case history(room: String?, before: UInt64?, after: UInt64?, limit: Int?)
    /// Shows a room's topic (`text` nil), sets it, or clears it (`text` empty). The current room
    /// when `room` is nil.
    case topic(room: String?, text: String?)
    /// Marks the client away with `message`, or back when it is nil.
    case away(message: String?)
    /// An operator takes `nick` out of a room (the current one when `room` is nil).
    case kick(room: String?, nick: String, reason: String?)
    /// Lets `nick` into a room past `+i` and `+k` (the current one when `room` is nil).
    case invite(nick: String, room: String?)
    /// Shows a room's modes (`modes` nil) or changes them: `+o bob`, `-t`, `+k key`.
    case mode(room: String?, modes: String?, arguments: [String])
    /// Makes the client's nick an account with `password`, and signs it in.
    case register(password: Password)
    /// Signs in to the account `nick` (the client's own nick's when nil).
    case login(nick: String?, password: Password)
    /// Changes the signed-in account's password.
    case changePassword(old: Password, new: Password)
    /// Drops the signed-in account.
    case unregister(password: Password)
    /// Which of `nicks` are connected now, and which of those are away (IRC's `ISON` and
    /// `USERHOST`; JSON's `online`).
    case online(nicks: [String])
    /// How many are connected and in how many rooms (IRC's `LUSERS`; JSON's `counts`).
    case counts
    case help(topic: String?)
    case quit(reason: String?)
    /// JSON mode keepalive; answered with a `pong` carrying the same token.
    case ping(token: String?)
}

/// Why a request could not be parsed. `description` is the sentence shown to the user.
public enum CommandError: Error, Equatable, Sendable, CustomStringConvertible {
    case unknownCommand(String)
    /// A JSON request's unknown `type`.
    case unknownType(String)
    case usage(command: String, usage: String)
    case badRequest(String)
    /// Refused for a reason the directory would give too (a dialect checks it as it reads).
    case refused(ErrorCode, String)

    public var description: String {
        switch self {
        case .unknownCommand(let name):
            "Unknown command /\(name). Type /help for the list (start a line with // to send one that begins with /)."
        case .unknownType(let type):
            "Unknown request type \"\(type)\". The types are \(JSONRequest.types.keys.sorted().joined(separator: ", ")) (docs/PROTOCOL.md)."
        case .usage(let command, let usage): "Usage: /\(command) \(usage)"
        case .badRequest(let reason): "Bad request: \(reason)"
        case .refused(_, let message): message
        }
    }

    public var code: ErrorCode {
        switch self {
        case .unknownCommand, .unknownType: .unknownCommand
        case .usage: .usage
        case .badRequest: .badRequest
        case .refused(let code, _): code
        }
    }
}

extension Command {
    /// A line for the current room (a message or `/me` without a room named).
    public var isForCurrentRoom: Bool {
        switch self {
        case .say(_, nil), .action(_, nil): true
        default: false
        }
    }
}

/// One entry of the command table: the single source for parsing, aliases and `/help`.
public struct CommandInfo: Sendable {
    public let name: String
    public let aliases: [String]
    public let arguments: String
    public let summary: String
}

extension Command {
    /// Every slash command, in the order `/help` lists them.
    public static let table: [CommandInfo] = [
        CommandInfo(name: "help", aliases: ["?"], arguments: "[command]", summary: "List the commands, or explain one."),
        CommandInfo(name: "nick", aliases: [], arguments: "<new-nick>", summary: "Change your nickname."),
        CommandInfo(
            name: "join", aliases: ["j"], arguments: "<#room> [key]",
            summary: "Join a room (creating it if needed, and becoming its operator) and make it your current room."),
        CommandInfo(name: "part", aliases: ["leave"], arguments: "[#room] [reason]", summary: "Leave a room (the current one by default)."),
        CommandInfo(name: "rooms", aliases: ["list"], arguments: "", summary: "List the rooms and how many people are in each."),
        CommandInfo(name: "who", aliases: ["names"], arguments: "[#room]", summary: "List who is in a room (the current one by default)."),
        CommandInfo(
            name: "whois", aliases: ["wi"], arguments: "<nick>",
            summary: "Show someone's rooms, when they connected, how long they have been idle and their client."),
        CommandInfo(
            name: "history", aliases: [], arguments: "[#room] [lines]",
            summary: "Show a room's older lines (the current room, 50 lines, by default)."),
        CommandInfo(
            name: "topic", aliases: ["t"], arguments: "[-delete] [#room] [text]",
            summary: "Show a room's topic, set it to text, or clear it with -delete (the current room by default)."),
        CommandInfo(name: "msg", aliases: ["query", "m"], arguments: "<nick> <text>", summary: "Send a private message."),
        CommandInfo(
            name: "notice", aliases: [], arguments: "<#room|nick> <text>",
            summary: "Send a notice to a room you are in or to someone: a message no program answers."),
        CommandInfo(name: "me", aliases: [], arguments: "<action>", summary: "Describe an action: /me waves → * alice waves"),
        CommandInfo(
            name: "away", aliases: [], arguments: "[message]",
            summary: "Say you are away (those who message you, and /whois, are told), or back without a message."),
        CommandInfo(
            name: "kick", aliases: ["k"], arguments: "[#room] <nick> [reason]",
            summary: "Operators: take someone out of a room (the current one by default)."),
        CommandInfo(
            name: "invite", aliases: [], arguments: "<nick> [#room]",
            summary: "Invite someone into a room, past its +i and +k (the current room by default)."),
        CommandInfo(
            name: "mode", aliases: [], arguments: "[#room] [+-modes] [args]",
            summary: "Show a room's modes, or (operators) change them: +o/+v nick, +t, +m, +i, +k key."),
        CommandInfo(name: "op", aliases: [], arguments: "[#room] <nick>", summary: "Operators: make someone an operator (/mode +o)."),
        CommandInfo(name: "deop", aliases: [], arguments: "[#room] <nick>", summary: "Operators: take operator status away (/mode -o)."),
        CommandInfo(
            name: "voice", aliases: [], arguments: "[#room] <nick>", summary: "Operators: let someone talk in a moderated room (/mode +v)."),
        CommandInfo(name: "devoice", aliases: [], arguments: "[#room] <nick>", summary: "Operators: take voice away (/mode -v)."),
        CommandInfo(
            name: "register", aliases: [], arguments: "<password>",
            summary: "Make your nick an account, protected by the password (8 to 128 characters), and sign in."),
        CommandInfo(
            name: "login", aliases: ["identify"], arguments: "[nick] <password>",
            summary: "Sign in to an account (your nick's by default), taking its nick if it is free."),
        CommandInfo(name: "password", aliases: [], arguments: "<old> <new>", summary: "Change your account's password."),
        CommandInfo(name: "unregister", aliases: [], arguments: "<password>", summary: "Drop your account for good."),
        CommandInfo(name: "quit", aliases: ["exit", "bye"], arguments: "[reason]", summary: "Leave the chat, with an optional reason."),
        CommandInfo(name: "ping", aliases: [], arguments: "[token]", summary: "Check the server answers: it replies *** pong [token]."),
    ]

    /// The longest topic, in characters.
    public static let maxTopicLength = 300

    /// The most nicks one `online` request asks about (the rest are not looked at).
    public static let maxOnlineNicks = 32

    /// The longest away message, in characters (longer ones are cut).
    public static let maxAwayLength = 200

    /// The most lines one `history` request returns.
    public static let maxHistoryLines = 1_000

    static func info(named name: String) -> CommandInfo? {
        let lowered = name.lowercased()
        return table.first { $0.name == lowered || $0.aliases.contains(lowered) }
    }

    /// Parses a line typed by a text-mode client (already sanitized).
    ///
    /// A line not starting with `/` is a message to the current room; `//text` sends `/text`;
    /// `/name args` is a command. Returns nil for a blank line, which is ignored.
    public static func parse(line: String) -> Result<Command, CommandError>? {
        guard line.unicodeScalars.contains(where: { !$0.properties.isWhitespace }) else { return nil }
        guard line.hasPrefix("/") else { return .success(.say(text: line, room: nil)) }
        if line.hasPrefix("//") { return .success(.say(text: String(line.dropFirst()), room: nil)) }
        let body = line.dropFirst()
        let name = String(body.prefix { $0 != " " })
        let rest = Sanitizer.trimmed(body.dropFirst(name.count))
        guard let info = info(named: name) else { return .failure(.unknownCommand(Sanitizer.trimmed(name))) }
        let usage = CommandError.usage(command: info.name, usage: info.arguments)
        let (first, remainder) = splitFirstWord(rest)
        switch info.name {
        case "help": return .success(.help(topic: first))
        case "nick":
            guard let first, remainder == nil else { return .failure(usage) }
            return .success(.nick(first))
        case "join":
            guard let first, remainder?.contains(" ") != true else { return .failure(usage) }
            return .success(.join(first, key: remainder))
        case "kick":
            var (room, words) = (nil as String?, rest)
            if let first, first.hasPrefix("#") { (room, words) = (first, remainder ?? "") }
            let (nick, reason) = splitFirstWord(words)
            guard let nick else { return .failure(usage) }
            return .success(.kick(room: room, nick: nick, reason: reason))
        case "invite":
            let words = rest.split(separator: " ").map(String.init)
            guard (1...2).contains(words.count) else { return .failure(usage) }
            return .success(.invite(nick: words[0], room: words.count == 2 ? words[1] : nil))
        case "mode":
            var words = rest.split(separator: " ").map(String.init)[...]
            let room = words.first?.hasPrefix("#") == true ? words.popFirst() : nil
            let modes = words.popFirst()
            return .success(.mode(room: room, modes: modes, arguments: Array(words)))
        case "op", "deop", "voice", "devoice":
            var words = rest.split(separator: " ").map(String.init)[...]
            let room = words.first?.hasPrefix("#") == true ? words.popFirst() : nil
            guard !words.isEmpty, words.count <= RoomModeChange.maxWithArgument else { return .failure(usage) }
            let letter = info.name.hasSuffix("op") ? "o" : "v"
            let sign = info.name.hasPrefix("de") ? "-" : "+"
            return .success(.mode(room: room, modes: sign + String(repeating: letter, count: words.count), arguments: Array(words)))
        case "part":
            if let first, first.hasPrefix("#") { return .success(.part(room: first, reason: remainder)) }
            return .success(.part(room: nil, reason: rest.isEmpty ? nil : rest))
        case "rooms": return .success(.rooms)
        case "who":
            guard remainder == nil else { return .failure(usage) }
            return .success(.who(room: first))
        case "whois":
            guard let first, remainder == nil else { return .failure(usage) }
            return .success(.whois(nick: first))
        case "history":
            let words = rest.split(separator: " ").map(String.init)
            var room: String?
            var limit: Int?
            for word in words {
                if word.hasPrefix("#"), room == nil, limit == nil {
                    room = word
                } else if let count = Int(word), count > 0, limit == nil {
                    limit = min(count, Self.maxHistoryLines)
                } else {
                    return .failure(usage)
                }
            }
            return .success(.history(room: room, before: nil, after: nil, limit: limit))
        case "topic":
            // As in irssi: a first word starting with # names the room.
            var (first, remainder) = (first, remainder)
            let delete = first?.lowercased() == "-delete"
            if delete { (first, remainder) = splitFirstWord(remainder ?? "") }
            var room: String?
            if let word = first, word.hasPrefix("#") {
                room = word
                (first, remainder) = splitFirstWord(remainder ?? "")
            }
            let text = first.map { [$0, remainder].compactMap { $0 }.joined(separator: " ") }
            if delete {
                guard text == nil else { return .failure(usage) }
                return .success(.topic(room: room, text: ""))
            }
            return .success(.topic(room: room, text: text))
        case "msg":
            guard let first, let remainder else { return .failure(usage) }
            return .success(.privateMessage(to: first, text: remainder))
        case "notice":
            guard let first, let remainder else { return .failure(usage) }
            return .success(.notice(to: first, text: remainder))
        case "me":
            guard !rest.isEmpty else { return .failure(usage) }
            return .success(.action(text: rest, room: nil))
        case "quit": return .success(.quit(reason: rest.isEmpty ? nil : rest))
        case "away": return .success(.away(message: rest.isEmpty ? nil : String(rest.prefix(Command.maxAwayLength))))
        case "ping": return .success(.ping(token: rest.isEmpty ? nil : String(rest.prefix(64))))
        case "register", "unregister":
            // The whole rest is the password: it may hold spaces.
            guard !rest.isEmpty else { return .failure(usage) }
            return .success(info.name == "register" ? .register(password: Password(rest)) : .unregister(password: Password(rest)))
        case "login":
            // One word is the password (of one's own nick's account); two or more, a nick and a password.
            guard let first else { return .failure(usage) }
            guard let remainder else { return .success(.login(nick: nil, password: Password(first))) }
            return .success(.login(nick: first, password: Password(remainder)))
        case "password":
            guard let first, let remainder else { return .failure(usage) }
            return .success(.changePassword(old: Password(first), new: Password(remainder)))
        default: return .failure(.unknownCommand(name))
        }
    }

    private static func splitFirstWord(_ text: String) -> (String?, String?) {
        guard !text.isEmpty else { return (nil, nil) }
        guard let space = text.firstIndex(of: " ") else { return (text, nil) }
        let rest = Sanitizer.trimmed(text[space...])
        return (String(text[..<space]), rest.isEmpty ? nil : rest)
    }
}

/// A request in JSON mode: the command and the client's optional correlation id, which every
/// direct reply to it carries back as `re`.
public struct JSONRequest: Equatable, Sendable {
    public enum Kind: Equatable, Sendable {
        /// The opening request that switches a connection to JSON mode, optionally with a nick.
        /// `client` names the program (`chat 0.1.0`, `web`), so an operator can tell people
        /// from bots (`chatctl who`'s KIND).
        case hello(nick: String?, client: String? = nil)
        case command(Command)
    }

    public var kind: Kind
    public var correlation: RequestID?

    public init(_ kind: Kind, correlation: RequestID? = nil) {
        self.kind = kind
        self.correlation = correlation
    }

    /// The request types, with the members each takes (documented in docs/PROTOCOL.md).
    /// Members that are integers (the rest are strings).
    static let integerMembers: Set<String> = ["before", "after", "limit"]
    /// Members that are arrays of strings.
    static let arrayMembers: Set<String> = ["args", "nicks"]

    public static let types: [String: (required: [String], optional: [String])] = [
        "hello": ([], ["nick", "protocol", "client"]),
        "message": (["text"], ["room"]),
        "action": (["text"], ["room"]),
        "private": (["to", "text"], []),
        "notice": (["to", "text"], []),
        "nick": (["nick"], []),
        "join": (["room"], ["key"]),
        "part": ([], ["room", "reason"]),
        "rooms": ([], []),
        "who": ([], ["room"]),
        "whois": (["nick"], []),
        "history": ([], ["room", "before", "after", "limit"]),
        "topic": ([], ["room", "text"]),
        "help": ([], ["topic"]),
        "quit": ([], ["reason"]),
        "ping": ([], ["token"]),
        "away": ([], ["text"]),
        "kick": (["nick"], ["room", "reason"]),
        "invite": (["nick"], ["room"]),
        "mode": ([], ["room", "modes", "args"]),
        "online": (["nicks"], []),
        "register": (["password"], []),
        "login": (["password"], ["nick"]),
        "password": (["old", "new"], []),
        "unregister": (["password"], []),
        "counts": ([], []),
    ]

    /// Parses one JSON-mode line.
    public static func parse(_ line: [UInt8]) -> Result<JSONRequest, CommandError> {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes: line)
        } catch {
            return .failure(.badRequest("not valid JSON (\(error))"))
        }
        guard case .object(let object) = value else {
            return .failure(.badRequest("expected a JSON object, got \(value.typeName)"))
        }
        var correlation: RequestID?
        switch object["id"] {
        case nil: break
        case .string(let s)?:
            // Echoed whole or not at all: a client could not match a shortened id.
            guard s.count <= RequestID.maxLength else {
                return .failure(.badRequest("\"id\" is too long: at most \(RequestID.maxLength) characters"))
            }
            correlation = .string(s)
        case .integer(let i)?: correlation = .integer(i)
        case let other?: return .failure(.badRequest("\"id\" must be a string or an integer, got \(other.typeName)"))
        }
        func fail(_ reason: String) -> Result<JSONRequest, CommandError> {
            .failure(.badRequest(reason))
        }
        guard let typeValue = object["type"] else { return fail("missing member \"type\"") }
        guard case .string(let type) = typeValue else {
            return fail("\"type\" must be a string, got \(typeValue.typeName)")
        }
        guard let shape = types[type] else {
            return .failure(.unknownType(Sanitizer.clean(String(type.prefix(32)))))
        }
        var strings: [String: String] = [:]
        var integers: [String: Int64] = [:]
        var arrays: [String: [String]] = [:]
        for key in object.keys where key != "id" && key != "type" {
            guard shape.required.contains(key) || shape.optional.contains(key) else {
                return fail("unknown member \"\(Sanitizer.clean(String(key.prefix(32))))\" for type \"\(type)\"")
            }
            if key == "protocol" {
                guard case .integer = object[key]! else { return fail("\"protocol\" must be an integer") }
                continue
            }
            if Self.integerMembers.contains(key) {
                guard case .integer(let n) = object[key]!, n >= 0 else {
                    return fail("\"\(key)\" must be a non-negative integer, got \(object[key]!.jsonText)")
                }
                integers[key] = n
                continue
            }
            if Self.arrayMembers.contains(key) {
                guard case .array(let values) = object[key]!, values.count <= 16 else {
                    return fail("\"\(key)\" must be an array of at most 16 strings")
                }
                var list: [String] = []
                for value in values {
                    guard case .string(let s) = value else { return fail("\"\(key)\" must hold strings, got \(value.typeName)") }
                    list.append(Sanitizer.cleanArgument(s))
                }
                arrays[key] = list
                continue
            }
            guard case .string(let s) = object[key]! else {
                return fail("\"\(key)\" must be a string, got \(object[key]!.typeName)")
            }
            strings[key] = s
        }
        for key in shape.required where strings[key] == nil && arrays[key] == nil {
            return fail("missing member \"\(key)\" for type \"\(type)\"")
        }
        func arg(_ key: String) -> String? { strings[key].map(Sanitizer.cleanArgument) }
        func text(_ key: String) -> String { Sanitizer.clean(strings[key] ?? "") }
        let command: Command
        switch type {
        case "hello":
            let client = strings["client"].map { String(Sanitizer.clean($0).prefix(32)) }.flatMap { $0.isEmpty ? nil : $0 }
            return .success(JSONRequest(.hello(nick: arg("nick"), client: client), correlation: correlation))
        case "message": command = .say(text: text("text"), room: arg("room"))
        case "action": command = .action(text: text("text"), room: arg("room"))
        case "private": command = .privateMessage(to: arg("to")!, text: text("text"))
        case "notice": command = .notice(to: arg("to")!, text: text("text"))
        case "nick": command = .nick(arg("nick")!)
        case "join": command = .join(arg("room")!, key: arg("key"))
        case "kick": command = .kick(room: arg("room"), nick: arg("nick")!, reason: arg("reason"))
        case "invite": command = .invite(nick: arg("nick")!, room: arg("room"))
        case "mode": command = .mode(room: arg("room"), modes: arg("modes"), arguments: arrays["args"] ?? [])
        case "register": command = .register(password: Password(strings["password"]!))
        case "login": command = .login(nick: arg("nick"), password: Password(strings["password"]!))
        case "password": command = .changePassword(old: Password(strings["old"]!), new: Password(strings["new"]!))
        case "unregister": command = .unregister(password: Password(strings["password"]!))
        case "online": command = .online(nicks: arrays["nicks"] ?? [])
        case "counts": command = .counts
        case "part": command = .part(room: arg("room"), reason: arg("reason"))
        case "rooms": command = .rooms
        case "who": command = .who(room: arg("room"))
        case "whois": command = .whois(nick: arg("nick")!)
        case "history":
            command = .history(
                room: arg("room"), before: integers["before"].map { UInt64($0) }, after: integers["after"].map { UInt64($0) },
                limit: integers["limit"].map { Int(min($0, Int64(Command.maxHistoryLines))) })
        case "topic": command = .topic(room: arg("room"), text: strings["text"].map { Sanitizer.clean($0) })
        case "help": command = .help(topic: arg("topic"))
        case "quit": command = .quit(reason: arg("reason"))
        case "away":
            let message = Sanitizer.trimmed(text("text"))
            command = .away(message: message.isEmpty ? nil : String(message.prefix(Command.maxAwayLength)))
        default: command = .ping(token: strings["token"].map { Sanitizer.clean(String($0.prefix(64))) })
        }
        return .success(JSONRequest(.command(command), correlation: correlation))
    }
}

extension JSONRequest {
    /// The request as one JSON line (without the newline): what `parse` reads back. Used by the
    /// clients, so a client and the server cannot disagree about a request's shape.
    public var encoded: [UInt8] {
        let (type, members) = typeAndMembers
        var json = JSONWriter()
        json.beginObject()
        json.key("type")
        json.string(type)
        for (key, value) in members {
            guard let value else { continue }
            json.key(key)
            json.string(value)
        }
        if case .command(.mode(_, _, let arguments)) = kind, !arguments.isEmpty {
            json.key("args")
            json.beginArray()
            for argument in arguments { json.string(argument) }
            json.endArray()
        }
        if case .command(.online(let nicks)) = kind {
            json.key("nicks")
            json.beginArray()
            for nick in nicks { json.string(nick) }
            json.endArray()
        }
        if case .command(.history(_, let before, let after, let limit)) = kind {
            for (key, value) in [("before", before.map(Int64.init)), ("after", after.map(Int64.init)), ("limit", limit.map(Int64.init))] {
                guard let value else { continue }
                json.key(key)
                json.integer(value)
            }
        }
        if let correlation {
            json.key("id")
            json.requestID(correlation)
        }
        json.endObject()
        return json.bytes
    }

    /// The `type` and the members (absent when nil) of each request.
    private var typeAndMembers: (String, [(StaticString, String?)]) {
        switch kind {
        case .hello(let nick, let client): ("hello", [("nick", nick), ("client", client)])
        case .command(let command):
            switch command {
            case .say(let text, let room): ("message", [("room", room), ("text", text)])
            case .action(let text, let room): ("action", [("room", room), ("text", text)])
            case .privateMessage(let to, let text): ("private", [("to", to), ("text", text)])
            case .notice(let to, let text): ("notice", [("to", to), ("text", text)])
            case .nick(let nick): ("nick", [("nick", nick)])
            case .join(let room, let key): ("join", [("room", room), ("key", key)])
            case .kick(let room, let nick, let reason): ("kick", [("room", room), ("nick", nick), ("reason", reason)])
            case .invite(let nick, let room): ("invite", [("nick", nick), ("room", room)])
            case .mode(let room, let modes, _): ("mode", [("room", room), ("modes", modes)])
            case .register(let password): ("register", [("password", password.text)])
            case .login(let nick, let password): ("login", [("nick", nick), ("password", password.text)])
            case .changePassword(let old, let new): ("password", [("old", old.text), ("new", new.text)])
            case .unregister(let password): ("unregister", [("password", password.text)])
            case .online: ("online", [])
            case .counts: ("counts", [])
            case .part(let room, let reason): ("part", [("room", room), ("reason", reason)])
            case .rooms: ("rooms", [])
            case .who(let room): ("who", [("room", room)])
            case .whois(let nick): ("whois", [("nick", nick)])
            case .history(let room, _, _, _): ("history", [("room", room)])
            case .topic(let room, let text): ("topic", [("room", room), ("text", text)])
            case .help(let topic): ("help", [("topic", topic)])
            case .quit(let reason): ("quit", [("reason", reason)])
            case .ping(let token): ("ping", [("token", token)])
            case .away(let message): ("away", [("text", message)])
            }
        }
    }
}
