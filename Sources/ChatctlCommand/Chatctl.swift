import ArgumentParser
import ChatCore
import FoundationEssentials
import Glibc

public struct Chatctl: ParsableCommand {
    public init() {}

    public static let configuration = CommandConfiguration(
        commandName: "chatctl",
        abstract: "Manage a running chatd through its admin socket.",
        discussion: """
            With --json, a success prints the command's result object and a refusal prints the error object ({"code", "message", "details"}); the exit status tells them apart.

            Exit status: 0 done; 1 chatd refused the request (its reason is printed); 69 chatd is not reachable; 77 permission denied; 64 bad usage.

            Examples:
              chatctl who
              chatctl kick bob flooding the lobby
              chatctl say --room '#dev' deploy in 5 minutes
              chatctl ban 198.51.100.0/24 --for 2h --reason spam
              chatctl drain --message 'back at 14:00' --shutdown-after 10m
              chatctl --json stats | jq .clients
            """,
        version: ChatdVersion.current,
        subcommands: [
            Who.self, Kick.self, Say.self, Mode.self, AccountCommand.self, Rooms.self, Stats.self, Reload.self, BanCommand.self, Unban.self,
            Bans.self,
            Drain.self,
            Undrain.self, History.self, Purge.self, Backup.self,
        ]
    )

    /// Connection options given before the subcommand (`chatctl --json who`).
    @OptionGroup var options: Connection

    /// The command's name as typed, when it names no command: `chatctl frob` is an unknown
    /// command, not an "unexpected argument". Root options that take a value are skipped.
    static func unknownCommand(in arguments: [String]) -> String? {
        var words = arguments[...]
        while let word = words.first, word.hasPrefix("-") {
            words = words.dropFirst(word.contains("=") || word == "--json" ? 1 : 2)
        }
        guard let word = words.first else { return nil }
        let names = configuration.subcommands.compactMap { $0.configuration.commandName ?? $0._commandName }
        return names.contains(word) || word == "help" ? nil : word
    }

    public static func main() {
        if let unknown = unknownCommand(in: Array(CommandLine.arguments.dropFirst())) {
            let names = configuration.subcommands.compactMap { $0.configuration.commandName ?? $0._commandName }
            printError("chatctl: unknown command '\(unknown)'. The commands are: \(names.joined(separator: ", ")) (chatctl --help).")
            Glibc.exit(64)  // EX_USAGE
        }
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }
}

/// What every subcommand has: its own connection options, merged with those given before it.
protocol AdminSubcommand: ParsableCommand {
    var root: Chatctl { get }
    var local: Connection { get }
}

extension AdminSubcommand {
    var connection: Connection { local.merged(with: root.options) }
}

/// Options every subcommand takes.
struct Connection: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The admin socket (default: $CHATD_ADMIN_SOCKET, else chatd's default: /run/chatd/admin.sock for root).", valueName: "path"))
    var socket: String?

    @Flag(name: .long, help: "Print the daemon's JSON response instead of a table.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Seconds to wait for chatd's answer.", valueName: "seconds"))
    var timeout: Double = 10

    /// These options, with unset ones taken from `outer`.
    func merged(with outer: Connection) -> Connection {
        var merged = self
        merged.socket = socket ?? outer.socket
        merged.json = json || outer.json
        merged.timeout = timeout != 10 ? timeout : outer.timeout
        return merged
    }

    var path: String {
        if let socket { return socket }
        let environment = ProcessInfo.processInfo.environment
        if let fromEnvironment = environment["CHATD_ADMIN_SOCKET"], !fromEnvironment.isEmpty { return fromEnvironment }
        return Paths.adminSocket(configured: "", environment: environment, uid: getuid())
    }

    /// Who the socket file's permissions let in, named from its owner and group.
    static func whoMayConnect(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "root and chatd's own user" }
        let owner = getpwuid(info.st_uid).map { String(cString: $0.pointee.pw_name) } ?? "uid \(info.st_uid)"
        let group = getgrgid(info.st_gid).map { String(cString: $0.pointee.gr_name) } ?? "gid \(info.st_gid)"
        return info.st_uid == 0 ? "root and members of group \(group)" : "root, \(owner) and members of group \(group)"
    }

    /// Sends `command`; returns the result, or exits with the documented status.
    func run(_ command: AdminCommand) throws -> JSONValue {
        let response: AdminResponse
        do {
            response = try AdminClient(path: path, timeout: timeout).send(AdminRequest(id: "1", command))
        } catch {
            switch error {
            case .unreachable(let message):
                printError("chatctl: \(message)")
                throw ExitCode(69)  // EX_UNAVAILABLE
            case .permissionDenied(let message):
                printError("chatctl: \(message) (\(Self.whoMayConnect(path)) may use it)")
                throw ExitCode(77)  // EX_NOPERM
            case .protocolError(let message):
                printError("chatctl: \(message)")
                throw ExitCode(70)  // EX_SOFTWARE
            }
        }
        switch response.outcome {
        case .success(let result):
            if json { print(result.jsonText) }
            return result
        case .failure(let failure):
            if json {
                var error = JSONObject([("code", .string(failure.code.rawValue)), ("message", .string(failure.message))])
                error.append("details", .array(failure.details.map(JSONValue.string)))
                print(JSONValue.object(error).jsonText)
            } else {
                printError("chatctl: \(failure.message)")
                for detail in failure.details { printError("  \(detail)") }
            }
            throw ExitCode(failure.code == .permissionDenied ? 77 : 1)
        }
    }
}

func printError(_ text: String) {
    let line = Array((text + "\n").utf8)
    _ = line.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
}

/// Prints rows as aligned columns under a header.
func printTable(_ header: [String], _ rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows {
        for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) }
    }
    for row in [header] + rows {
        let cells = row.enumerated().map { i, cell in
            i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
        }
        print(cells.joined(separator: "  "))
    }
}

/// `90` (seconds), `90s`, `15m`, `2h`, `7d`, `1w`.
func parseDuration(_ text: String) throws -> Int {
    let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800]
    var number = text
    var unit = 1
    if let last = text.last, let factor = units[last] {
        number = String(text.dropLast())
        unit = factor
    }
    guard let value = Int(number), value > 0, value <= Int(Int32.max) / unit else {
        throw ValidationError("\(text) is not a duration: use seconds or a number with s, m, h, d or w (e.g. 30m, 2h, 7d).")
    }
    return value * unit
}

// MARK: Subcommands

struct Who: AdminSubcommand {
    static let configuration = CommandConfiguration(abstract: "List the connected clients: nick, address, rooms, connected, idle, kind.")
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection

    func run() throws {
        let result = try connection.run(.who)
        guard !connection.json else { return }
        guard case .array(let entries)? = result["clients"] else { return }
        let clients = entries.compactMap(ClientInfo.init(json:))
        let now = Date().timeIntervalSince1970
        printTable(
            ["NICK", "ADDRESS", "ROOMS", "CONNECTED", "IDLE", "KIND"],
            clients.map { client in
                [
                    client.nick, client.address, client.rooms.joined(separator: ","),
                    Durations.short(Int(now - Double(client.connectedAt.milliseconds) / 1000)), Durations.short(client.idleSeconds),
                    client.kind,
                ]
            })
        if clients.isEmpty { print("(nobody is connected)") }
    }
}

struct Kick: AdminSubcommand {
    static let configuration = CommandConfiguration(abstract: "Disconnect a client; it and its rooms see the reason.")
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection
    @Argument(help: "The nickname to disconnect.") var nick: String
    @Argument(help: "Why (shown to the client and its rooms).") var reason: [String] = []
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Also ban the client's address for this long (90s, 30m, 2h, 7d), so it cannot come straight back.", valueName: "duration"))
    var ban: String?

    func run() throws {
        let seconds = try ban.map(parseDuration)
        let result = try connection.run(.kick(nick: nick, reason: reason.isEmpty ? nil : reason.joined(separator: " "), ban: seconds))
        guard !connection.json else { return }
        print("kicked \(result["nick"]?.stringValue ?? nick)")
        if let seconds, let target = result["ban"]?["target"]?.stringValue { print("banned \(target) for \(Durations.short(seconds))") }
    }
}

struct Say: AdminSubcommand {
    static let configuration = CommandConfiguration(abstract: "Announce something from the server, to everyone or to one room.")
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection
    @Option(name: .long, help: ArgumentHelp("Only this room.", valueName: "#room")) var room: String?
    @Argument(help: "The announcement.") var text: [String]

    public func validate() throws {
        if text.isEmpty { throw ValidationError("Say what? Give the announcement's text.") }
    }

    func run() throws {
        _ = try connection.run(.say(text: text.joined(separator: " "), room: room))
        if !connection.json { print("announced to \(room ?? "everyone")") }
    }
}

struct Mode: AdminSubcommand {
    static let configuration = CommandConfiguration(
        abstract: "Change a room's modes and roles as its operator would: +o/-o, +v/-v NICK, +t, +m, +i, +k KEY, -k.",
        discussion: "The changes apply in order; the room is told the server's operator made them. Example: chatctl mode '#lobby' +o alice")
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection
    @Argument(help: ArgumentHelp("The room.", valueName: "#room")) var room: String
    @Argument(
        parsing: .captureForPassthrough,
        help: ArgumentHelp("The changes, as in /mode (+o, -v, +mt, +k), then the nicks and key they name, in order.", valueName: "changes"))
    var changes: [String] = []

    public func validate() throws {
        if changes.isEmpty { throw ValidationError("Which changes? As in /mode: chatctl mode '#lobby' +o alice") }
    }

    func run() throws {
        let args = changes.dropFirst()
        let result = try connection.run(.mode(room: room, modes: changes[0], args: args.isEmpty ? nil : args.joined(separator: " ")))
        guard !connection.json else { return }
        let made = result["changes"]?.stringValue ?? ""
        print(made.isEmpty ? "\(room): nothing changed" : "\(room): \(made)")
    }
}

struct AccountCommand: AdminSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "account",
        abstract: "Accounts: list them, show one, drop one, or reset its password (read from standard input).",
        discussion: "chatctl account list | show NAME | drop NAME | reset-password NAME < password-file")
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection
    @Argument(help: ArgumentHelp("list, show, drop or reset-password.", valueName: "action")) var action: String
    @Argument(help: ArgumentHelp("The account (its nick).", valueName: "name")) var name: String?

    public func validate() throws {
        guard ["list", "show", "drop", "reset-password"].contains(action) else {
            throw ValidationError("Unknown action '\(action)': list, show, drop or reset-password.")
        }
        if action != "list", name == nil { throw ValidationError("Which account? chatctl account \(action) NAME") }
    }

    func run() throws {
        var password: String?
        if action == "reset-password" {
            // From standard input, never the command line (where `ps` would show it).
            if isatty(0) != 0 {
                let prompt = Array("New password for \(name ?? ""): ".utf8)
                _ = prompt.withUnsafeBytes { write(STDERR_FILENO, $0.baseAddress, $0.count) }
            }
            password = readLine(strippingNewline: true)
            if (password ?? "").isEmpty { throw ValidationError("No password on standard input.") }
        }
        let result = try connection.run(.account(action: action, name: name, password: password))
        guard !connection.json else { return }
        switch action {
        case "list":
            guard case .array(let accounts)? = result["accounts"] else { return }
            if accounts.isEmpty { print("no accounts") }
            for account in accounts {
                let signedIn = Self.nicks(account["signedIn"])
                let online = signedIn.isEmpty ? "" : "  signed in: \(signedIn.joined(separator: ", "))"
                print("\(account["name"]?.stringValue ?? "?")  created \(account["createdAt"]?.stringValue ?? "?")\(online)")
            }
        case "show":
            let signedIn = Self.nicks(result["signedIn"])
            print(
                "\(result["name"]?.stringValue ?? "?"): created \(result["createdAt"]?.stringValue ?? "?"); "
                    + (signedIn.isEmpty ? "nobody signed in" : "signed in: \(signedIn.joined(separator: ", "))"))
        case "drop":
            print("dropped \(result["name"]?.stringValue ?? "")")
        default:
            print("password of \(result["name"]?.stringValue ?? "") reset")
        }
    }

    private static func nicks(_ value: JSONValue?) -> [String] {
        guard case .array(let list)? = value else { return [] }
        return list.compactMap(\.stringValue)
    }
}

struct Rooms: AdminSubcommand {
    static let configuration = CommandConfiguration(abstract: "List the rooms: members, messages and topic.")
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection

    func run() throws {
        let result = try connection.run(.rooms)
        guard !connection.json, case .array(let entries)? = result["rooms"] else { return }
        let rooms = entries.compactMap(RoomInfo.init(json:))
        printTable(
            ["ROOM", "MEMBERS", "MESSAGES", "TOPIC"], rooms.map { [$0.name, String($0.members), String($0.messages), $0.topic ?? ""] })
        if rooms.isEmpty { print("(no rooms)") }
    }
}

struct Stats: AdminSubcommand {
    static let configuration = CommandConfiguration(abstract: "Show the daemon's counters: uptime, clients, traffic, refusals.")
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection

    func run() throws {
        let result = try connection.run(.stats)
        guard !connection.json, let stats = ServerStats(json: result) else { return }
        func counts(_ counts: [String: Int]) -> String {
            counts.isEmpty ? "0" : counts.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        }
        let listeners = stats.listeners.isEmpty ? "" : "; " + counts(stats.listeners)
        let rows = [
            ["uptime", Durations.short(stats.uptimeSeconds)],
            ["clients", "\(stats.clients) (peak \(stats.peakClients); \(stats.registrations) registrations)"],
            ["connections", "\(stats.connections) (parked \(stats.parked)\(listeners))"],
            ["rooms", String(stats.rooms)],
            ["messages in", String(stats.messages)],
            ["delivered", String(stats.delivered)],
            ["bytes in", String(stats.bytesIn)],
            ["bytes out", String(stats.bytesOut)],
            ["accepted", String(stats.accepted)],
            ["refused", counts(stats.refused)],
            ["disconnects", counts(stats.disconnects)],
            ["draining", stats.draining ? "yes" : "no"],
            ["history", stats.history + " (\(stats.historyWritten) lines written, \(stats.historyDropped) dropped)"],
        ]
        for row in rows { print(row[0] + ":" + String(repeating: " ", count: 13 - row[0].count) + row[1]) }
    }
}

struct Reload: AdminSubcommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-read the configuration, as SIGHUP does; a broken one is refused with its errors and the old one keeps serving.")
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection

    func run() throws {
        let result = try connection.run(.reload)
        guard !connection.json else { return }
        func list(_ key: String) -> [String] {
            if case .array(let items)? = result[key] { return items.compactMap(\.stringValue) }
            return []
        }
        let applied = list("applied")
        print(
            applied.isEmpty
                ? "configuration reloaded: nothing changed" : "configuration reloaded; applied: \(applied.joined(separator: ", "))")
        let restart = list("restartRequired")
        if !restart.isEmpty { print("needs a restart to take effect: \(restart.joined(separator: ", "))") }
    }
}

struct BanCommand: AdminSubcommand {
    static let configuration = CommandConfiguration(
        commandName: "ban", abstract: "Ban a nickname or an address / CIDR block; whoever it covers is disconnected. Bans survive restarts."
    )
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection
    @Argument(help: "A nickname, an address (203.0.113.7) or a block (198.51.100.0/24, 2001:db8::/32).") var target: String
    @Option(name: .customLong("for"), help: ArgumentHelp("How long: 90s, 30m, 2h, 7d (default: until unbanned).", valueName: "duration"))
    var duration: String?
    @Option(name: .long, help: "Why (shown to the banned client).") var reason: String?

    func run() throws {
        let seconds = try duration.map(parseDuration)
        let result = try connection.run(.ban(target: target, duration: seconds, reason: reason))
        guard !connection.json else { return }
        let until = seconds.map { "for \(Durations.short($0))" } ?? "until unbanned"
        print("banned \(result["ban"]?["target"]?.stringValue ?? target) \(until)")
        if let nick = result["disconnected"]?.stringValue { print("disconnected \(nick)") }
    }
}

struct Unban: AdminSubcommand {
    static let configuration = CommandConfiguration(abstract: "Lift a ban.")
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection
    @Argument(help: "The banned nickname, address or block, as listed by `chatctl bans`.") var target: String

    func run() throws {
        let result = try connection.run(.unban(target: target))
        if !connection.json { print("unbanned \(result["ban"]?["target"]?.stringValue ?? target)") }
    }
}

struct History: AdminSubcommand {
    static let configuration = CommandConfiguration(abstract: "Show a room's newest kept lines, oldest first, with their times.")
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection
    @Argument(help: "The room, e.g. '#lobby'.") var room: String
    @Option(help: "At most this many lines (up to 10,000).") var limit = 50

    func run() throws {
        let result = try connection.run(.history(room: room, limit: limit))
        guard !connection.json, case .array(let entries)? = result["lines"] else { return }
        for line in entries.compactMap({ HistoryRecord(json: $0) }) {
            print("[\(line.time.iso8601)] " + (line.isAction ? "* \(line.from) \(line.text)" : "<\(line.from)> \(line.text)"))
        }
        if entries.isEmpty { print("(no lines kept for \(result["room"]?.stringValue ?? room))") }
    }
}

struct Backup: AdminSubcommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a consistent copy of the history file while chatd runs.",
        discussion:
            "chatd writes the copy itself, so PATH must be a new file in a directory chatd may write to (its state directory under systemd)."
    )
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection
    @Argument(help: "Where to write the copy: an absolute path that does not exist yet.") var path: String

    func run() throws {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        let result = try connection.run(.backup(path: absolute))
        guard !connection.json else { return }
        let bytes = result.objectValue?.int("bytes") ?? 0
        print("history copied to \(result["path"]?.stringValue ?? absolute) (\(bytes) bytes)")
    }
}

struct Purge: AdminSubcommand {
    static let configuration = CommandConfiguration(
        abstract: "Remove kept lines for good: a room's, a nick's, those before a date, or one line; they are never replayed again.",
        discussion: """
            Lines matching every option given are removed, from the history file and from the scrollback shown to whoever joins \
            next. Lines already on people's screens stay there. At least one option is needed.
              chatctl purge --nick spammer               every line spammer sent, in every room
              chatctl purge --room '#dev' --nick bob     bob's lines in #dev
              chatctl purge --before 2026-01-01          everything said before 2026 (UTC)
              chatctl purge --event 48213                one line, by the id chatctl history --json shows
            """)
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection
    @Option(help: "Only this room's lines.") var room: String?
    @Option(help: "Only the lines this nick sent (matched as chatd matches nicks: Bob is bob).") var nick: String?
    @Option(help: ArgumentHelp("Only lines sent before this time, in UTC: 2026-11-21 or 2026-11-21T18:30.", valueName: "date"))
    var before: String?
    @Option(help: ArgumentHelp("Only the line with this event id.", valueName: "id")) var event: Int?

    func run() throws {
        guard room != nil || nick != nil || before != nil || event != nil else {
            throw ValidationError("Say what to purge: --room, --nick, --before or --event (they combine).")
        }
        let result = try connection.run(.purge(room: room, nick: nick, before: before, event: event))
        guard !connection.json else { return }
        let removed = result.objectValue?.int("removed") ?? 0
        print("purged \(removed) \(removed == 1 ? "line" : "lines")")
    }
}

struct Bans: AdminSubcommand {
    static let configuration = CommandConfiguration(abstract: "List the bans in force.")
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection

    func run() throws {
        let result = try connection.run(.bans)
        guard !connection.json, case .array(let entries)? = result["bans"] else { return }
        let bans = entries.compactMap(Ban.init(json:))
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        printTable(
            ["TARGET", "KIND", "EXPIRES", "REASON"],
            bans.map { ban in
                let kind = if case .nick = ban.target { "nick" } else { "address" }
                let expires = ban.expiresAt.map { "in " + Durations.short(Int(($0.milliseconds - now) / 1000)) } ?? "never"
                return [ban.targetText, kind, expires, ban.reason ?? ""]
            })
        if bans.isEmpty { print("(no bans)") }
    }
}

struct Drain: AdminSubcommand {
    static let configuration = CommandConfiguration(
        abstract: "Refuse new clients (with a message) while those connected stay; optionally stop once empty or after a time.")
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection
    @Option(name: .long, help: "What refused clients (and, with --shutdown-after, everyone) are told.") var message: String?
    @Option(
        name: .long,
        help: ArgumentHelp("Tell everyone, and stop gracefully once the last client has left or after this long.", valueName: "duration"))
    var shutdownAfter: String?

    func run() throws {
        let seconds = try shutdownAfter.map(parseDuration)
        _ = try connection.run(.drain(message: message, shutdownAfter: seconds))
        guard !connection.json else { return }
        print("draining: new clients are refused" + (seconds.map { "; chatd stops when empty or in \(Durations.short($0))" } ?? ""))
    }
}

struct Undrain: AdminSubcommand {
    static let configuration = CommandConfiguration(abstract: "Accept new clients again (and cancel a pending drain shutdown).")
    @ParentCommand var root: Chatctl
    @OptionGroup var local: Connection

    func run() throws {
        _ = try connection.run(.undrain)
        if !connection.json { print("accepting new clients") }
    }
}
