/// The admin protocol spoken on chatd's Unix-domain socket: one JSON object per line each way,
/// documented in docs/ADMIN.md. Both chatd and chatctl use these types.
///
/// Request:  `{"v":1,"id":"7","cmd":"kick","nick":"bob","reason":"spam"}`
/// Response: `{"v":1,"id":"7","ok":true,"result":{...}}` or
///           `{"v":1,"id":"7","ok":false,"error":{"code":"no_such_nick","message":"..."}}`
public enum AdminProtocol {
    public static let version = 1
    /// The longest request line the daemon reads; longer ones are refused and the connection closed.
    public static let maxRequestBytes = 65_536
}

public enum AdminCommand: Equatable, Sendable {
    case who
    /// `ban`: also ban the client's address for that many seconds, so it cannot come back.
    case kick(nick: String, reason: String?, ban: Int? = nil)
    /// An announcement from the server to everyone, or to one room.
    case say(text: String, room: String?)
    /// Changes a room's modes and roles as its operator would (`+o bob`, `+m`); `args` are the
    /// nicks and key, space-separated.
    case mode(room: String, modes: String, args: String?)
    /// Accounts: `list`, `show` (`name`), `drop` (`name`), `reset-password` (`name`, `password`).
    case account(action: String, name: String?, password: String?)
    case rooms
    case stats
    case reload
    /// `target` is a nickname or an address / CIDR block; `duration` in seconds, nil for ever.
    case ban(target: String, duration: Int?, reason: String?)
    case unban(target: String)
    case bans
    /// Refuse new clients with `message`; with `shutdownAfter`, stop once empty or when it elapses.
    case drain(message: String?, shutdownAfter: Int?)
    case undrain
    /// A room's newest kept lines (at most `limit`, default 50), oldest first.
    case history(room: String, limit: Int?)
    /// A consistent copy of the history file, written by chatd to `path` (absolute, new).
    case backup(path: String)
    /// Removes kept lines matching every criterion given (at least one): a room's, a nick's,
    /// those sent before a date, or one line by its event id.
    case purge(room: String?, nick: String?, before: String?, event: Int?)

    public var name: String {
        switch self {
        case .who: "who"
        case .kick: "kick"
        case .say: "say"
        case .mode: "mode"
        case .account: "account"
        case .rooms: "rooms"
        case .stats: "stats"
        case .reload: "reload"
        case .ban: "ban"
        case .unban: "unban"
        case .bans: "bans"
        case .drain: "drain"
        case .undrain: "undrain"
        case .history: "history"
        case .backup: "backup"
        case .purge: "purge"
        }
    }
}

public struct AdminRequest: Equatable, Sendable {
    public var id: String?
    public var command: AdminCommand

    public init(id: String? = nil, _ command: AdminCommand) {
        self.id = id
        self.command = command
    }

    /// The request as one JSON line (with its LF).
    public func encoded() -> [UInt8] {
        var object = JSONObject([("v", .integer(Int64(AdminProtocol.version)))])
        if let id { object.append("id", .string(id)) }
        object.append("cmd", .string(command.name))
        func add(_ key: String, _ value: String?) { if let value { object.append(key, .string(value)) } }
        func add(_ key: String, _ value: Int?) { if let value { object.append(key, .integer(Int64(value))) } }
        switch command {
        case .who, .rooms, .stats, .reload, .bans, .undrain: break
        case .kick(let nick, let reason, let ban):
            add("nick", nick)
            add("reason", reason)
            add("ban", ban)
        case .say(let text, let room):
            add("text", text)
            add("room", room)
        case .mode(let room, let modes, let args):
            add("room", room)
            add("modes", modes)
            add("args", args)
        case .account(let action, let name, let password):
            add("action", action)
            add("name", name)
            add("password", password)
        case .ban(let target, let duration, let reason):
            add("target", target)
            add("duration", duration)
            add("reason", reason)
        case .unban(let target): add("target", target)
        case .drain(let message, let shutdownAfter):
            add("message", message)
            add("shutdownAfter", shutdownAfter)
        case .history(let room, let limit):
            add("room", room)
            add("limit", limit)
        case .backup(let path): add("path", path)
        case .purge(let room, let nick, let before, let event):
            add("room", room)
            add("nick", nick)
            add("before", before)
            add("event", event)
        }
        var line = Array(JSONValue.object(object).jsonText.utf8)
        line.append(UInt8(ascii: "\n"))
        return line
    }

    /// The members each command takes: (name, is it an integer, is it required).
    static let shapes: [String: [(String, Bool, Bool)]] = [
        "who": [], "rooms": [], "stats": [], "reload": [], "bans": [], "undrain": [],
        "kick": [("nick", false, true), ("reason", false, false), ("ban", true, false)],
        "say": [("text", false, true), ("room", false, false)],
        "mode": [("room", false, true), ("modes", false, true), ("args", false, false)],
        "account": [("action", false, true), ("name", false, false), ("password", false, false)],
        "ban": [("target", false, true), ("duration", true, false), ("reason", false, false)],
        "unban": [("target", false, true)],
        "drain": [("message", false, false), ("shutdownAfter", true, false)],
        "history": [("room", false, true), ("limit", true, false)],
        "backup": [("path", false, true)],
        "purge": [("room", false, false), ("nick", false, false), ("before", false, false), ("event", true, false)],
    ]

    /// Parses one request line. The error carries the request's id when it could be read.
    public static func parse(_ line: [UInt8]) -> Result<AdminRequest, AdminFailure> {
        let value: JSONValue
        do {
            value = try JSONValue.parse(bytes: line)
        } catch {
            return .failure(AdminFailure(.badRequest, "not valid JSON (\(error))"))
        }
        guard case .object(let object) = value else {
            return .failure(AdminFailure(.badRequest, "expected a JSON object, got \(value.typeName)"))
        }
        var id: String?
        switch object["id"] {
        case nil: break
        case .string(let s)?: id = s
        case .integer(let i)?: id = String(i)
        case let other?: return .failure(AdminFailure(.badRequest, "\"id\" must be a string or an integer, got \(other.typeName)"))
        }
        func fail(_ code: AdminFailure.Code, _ message: String) -> Result<AdminRequest, AdminFailure> {
            .failure(AdminFailure(code, message, id: id))
        }
        switch object["v"] {
        case .integer(Int64(AdminProtocol.version))?: break
        case nil: return fail(.badRequest, "missing member \"v\" (the protocol version, \(AdminProtocol.version))")
        case let other?:
            return fail(
                .unsupportedVersion, "protocol version \(other.jsonText) is not supported; this chatd speaks \(AdminProtocol.version)")
        }
        guard case .string(let name)? = object["cmd"] else { return fail(.badRequest, "missing string member \"cmd\"") }
        guard let shape = shapes[name] else {
            return fail(.unknownCommand, "unknown command \"\(Sanitizer.clean(String(name.prefix(40))))\"")
        }
        var strings: [String: String] = [:]
        var integers: [String: Int] = [:]
        for key in object.keys where !["v", "id", "cmd"].contains(key) {
            guard let (_, isInteger, _) = shape.first(where: { $0.0 == key }) else {
                return fail(.badRequest, "unknown member \"\(Sanitizer.clean(String(key.prefix(40))))\" for \"\(name)\"")
            }
            switch (object[key]!, isInteger) {
            case (.string(let s), false): strings[key] = s
            case (.integer(let i), true) where i >= 0 && (i <= Int64(Int32.max) || key == "event"): integers[key] = Int(i)
            case (let other, true):
                let unit = ["limit", "event"].contains(key) ? "" : " of seconds"
                return fail(.badRequest, "\"\(key)\" must be a whole number\(unit), got \(other.jsonText)")
            case (let other, false): return fail(.badRequest, "\"\(key)\" must be a string, got \(other.typeName)")
            }
        }
        for (key, _, required) in shape where required && strings[key] == nil && integers[key] == nil {
            return fail(.badRequest, "missing member \"\(key)\" for \"\(name)\"")
        }
        let command: AdminCommand
        switch name {
        case "who": command = .who
        case "rooms": command = .rooms
        case "stats": command = .stats
        case "reload": command = .reload
        case "bans": command = .bans
        case "undrain": command = .undrain
        case "kick": command = .kick(nick: strings["nick"]!, reason: strings["reason"], ban: integers["ban"])
        case "say": command = .say(text: strings["text"]!, room: strings["room"])
        case "mode": command = .mode(room: strings["room"]!, modes: strings["modes"]!, args: strings["args"])
        case "account": command = .account(action: strings["action"]!, name: strings["name"], password: strings["password"])
        case "ban": command = .ban(target: strings["target"]!, duration: integers["duration"], reason: strings["reason"])
        case "unban": command = .unban(target: strings["target"]!)
        case "history": command = .history(room: strings["room"]!, limit: integers["limit"])
        case "backup": command = .backup(path: strings["path"]!)
        case "purge":
            command = .purge(room: strings["room"], nick: strings["nick"], before: strings["before"], event: integers["event"])
        default: command = .drain(message: strings["message"], shutdownAfter: integers["shutdownAfter"])
        }
        return .success(AdminRequest(id: id, command))
    }
}

/// A refused admin request: a stable code for scripts and a sentence for people.
public struct AdminFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case badRequest = "bad_request"
        case unknownCommand = "unknown_command"
        case unsupportedVersion = "unsupported_version"
        case tooLarge = "too_large"
        case permissionDenied = "permission_denied"
        case noSuchNick = "no_such_nick"
        case noSuchRoom = "no_such_room"
        case invalidTarget = "invalid_target"
        case notFound = "not_found"
        case configInvalid = "config_invalid"
        case internalError = "internal_error"
        /// History is off, or could not be opened.
        case historyOff = "history_off"
    }

    public var code: Code
    public var message: String
    public var id: String?
    /// Further lines, e.g. every problem of a refused config.
    public var details: [String]

    public init(_ code: Code, _ message: String, id: String? = nil, details: [String] = []) {
        self.code = code
        self.message = message
        self.id = id
        self.details = details
    }

    public var description: String { message }
}

/// The daemon's answer to one request.
public struct AdminResponse: Equatable, Sendable {
    public var id: String?
    public var outcome: Result<JSONValue, AdminFailure>

    public init(id: String?, _ outcome: Result<JSONValue, AdminFailure>) {
        self.id = id
        self.outcome = outcome
    }

    public func encoded() -> [UInt8] {
        var object = JSONObject([("v", .integer(Int64(AdminProtocol.version)))])
        if let id { object.append("id", .string(id)) }
        switch outcome {
        case .success(let result):
            object.append("ok", .bool(true))
            object.append("result", result)
        case .failure(let failure):
            object.append("ok", .bool(false))
            var error = JSONObject([("code", .string(failure.code.rawValue)), ("message", .string(failure.message))])
            if !failure.details.isEmpty { error.append("details", .array(failure.details.map(JSONValue.string))) }
            object.append("error", .object(error))
        }
        var line = Array(JSONValue.object(object).jsonText.utf8)
        line.append(UInt8(ascii: "\n"))
        return line
    }

    public static func parse(_ line: [UInt8]) -> AdminResponse? {
        guard case .object(let object)? = try? JSONValue.parse(bytes: line), case .bool(let ok)? = object["ok"] else { return nil }
        let id = object["id"]?.stringValue
        if ok { return AdminResponse(id: id, .success(object["result"] ?? .null)) }
        guard case .object(let error)? = object["error"], let message = error["message"]?.stringValue else { return nil }
        let code = error["code"]?.stringValue.flatMap(AdminFailure.Code.init(rawValue:)) ?? .internalError
        var details: [String] = []
        if case .array(let lines)? = error["details"] { details = lines.compactMap(\.stringValue) }
        return AdminResponse(id: id, .failure(AdminFailure(code, message, id: id, details: details)))
    }
}
