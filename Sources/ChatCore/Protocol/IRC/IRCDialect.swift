import Synchronization

/// IRC, for IRC clients on the IRC listener (`irc.listen`; docs/IRC.md): channels are chatd's
/// rooms and nicks its nicks, so an IRC client talks with text, JSON and web users in the same
/// rooms. Reading keeps the registration (`NICK`, `USER`, `CAP`) in the connection's
/// `IRCState`; rendering is `IRCFormat`'s.
public struct IRCDialect: Dialect {
    public init() {}

    public var clientKind: ClientKind { .irc }
    /// IRC clients pace themselves (and a notice about held lines would only be noise).
    public var isInteractive: Bool { false }
    /// Without the `echo-message` capability an IRC client shows what it sent by itself.
    public var echoesOwnMessages: Bool { false }
    /// Numerics begin with the recipient's nick.
    public var addressesRecipient: Bool { true }

    /// The negotiated capabilities that change how lines are rendered.
    public func viewExtensions(_ state: DialectState) -> UInt8 {
        UInt8(truncatingIfNeeded: state.irc.capabilities.intersection(.rendered).rawValue)
    }

    /// With `echo-message`, a client's own messages come back to it.
    public func echoesOwnMessages(_ state: DialectState) -> Bool {
        state.irc.capabilities.contains(.echoMessage)
    }

    public func read(_ line: [UInt8], registered: Bool) -> Reading {
        var state = DialectState.irc(IRCState())
        return read(line, registered: registered, state: &state)
    }

    public func read(_ line: [UInt8], registered: Bool, state: inout DialectState) -> Reading {
        guard let message = IRCMessage(line) else { return .nothing }
        let params = message.params
        switch message.command {
        case "CAP":
            return capability(params, registered: registered, state: &state)
        case "NICK":
            guard let wanted = params.first.map(Sanitizer.cleanArgument), !wanted.isEmpty else {
                return .invalid(.refused(.nickInvalid, "No nickname given"), re: Self.re("NICK"))
            }
            if registered { return .command(.nick(wanted), re: Self.re("NICK", wanted)) }
            var irc = state.irc
            irc.nick = wanted
            state = .irc(irc)
            return irc.registration
        case "USER":
            var irc = state.irc
            if registered || irc.user != nil {
                return .invalid(.refused(.alreadyRegistered, "You may not reregister"), re: Self.re("USER"))
            }
            guard params.count >= 4, !params[0].isEmpty else {
                return .invalid(.usage(command: "USER", usage: "<username> 0 * <realname>"), re: Self.re("USER"))
            }
            irc.user = Sanitizer.cleanArgument(params[0])
            state = .irc(irc)
            return irc.registration
        case "AUTHENTICATE":
            return authenticate(params, registered: registered, state: &state)
        case "PASS":
            if registered { return .invalid(.refused(.alreadyRegistered, "You may not reregister"), re: Self.re("PASS")) }
            return params.isEmpty ? .invalid(.usage(command: "PASS", usage: "<password>"), re: Self.re("PASS")) : .nothing
        case "PING":
            guard let token = params.first else { return .invalid(.usage(command: "PING", usage: "<token>"), re: Self.re("PING")) }
            return .command(.ping(token: Sanitizer.clean(token)), re: Self.re("PING"))
        case "PONG", "TAGMSG":
            return .nothing  // TAGMSG (message-tags): client-only tags, such as typing, are not relayed
        case "QUIT":
            let reason = params.first.map { Sanitizer.trimmed(Self.clean($0)) } ?? ""
            return .command(.quit(reason: reason.isEmpty ? nil : reason), re: nil)
        default:
            guard registered else {
                return .invalid(.refused(.notRegistered, "You have not registered"), re: Self.re(message.command))
            }
            return readRegistered(message.command, params)
        }
    }

    private func readRegistered(_ command: String, _ params: [String]) -> Reading {
        switch command {
        case "JOIN":
            // Keys pair with the channels in order: `JOIN #a,#b keyA,keyB`.
            let keys = params.count > 1 ? params[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init) : []
            return Self.targets(command, params) { rooms in
                .several(
                    rooms.enumerated().map { index, room in
                        let key = index < keys.count && !keys[index].isEmpty ? Sanitizer.cleanArgument(keys[index]) : nil
                        return room.hasPrefix("#")
                            ? .command(.join(room, key: key), re: Self.re("JOIN", room))
                            : .invalid(.refused(.noSuchRoom, "No such channel"), re: Self.re("JOIN", room))
                    })
            }
        case "PART":
            let reason = params.count > 1 ? Sanitizer.trimmed(Self.clean(params[1])) : ""
            return Self.targets(command, params) { rooms in
                .several(rooms.map { .command(.part(room: $0, reason: reason.isEmpty ? nil : reason), re: Self.re("PART", $0)) })
            }
        case "PRIVMSG", "NOTICE":
            return Self.targets(command, params) { targets in
                guard params.count > 1, !params[1].isEmpty else {
                    return .invalid(.usage(command: command, usage: "<target> <text>"), re: Self.re(command, targets[0]))
                }
                return .several(targets.map { message(command, to: $0, params[1]) })
            }
        case "TOPIC":
            guard let room = params.first, !room.isEmpty else {
                return .invalid(.usage(command: "TOPIC", usage: "<channel>"), re: Self.re("TOPIC"))
            }
            return .command(.topic(room: room, text: params.count > 1 ? Self.clean(params[1]) : nil), re: Self.re("TOPIC", room))
        case "NAMES":
            guard let list = params.first, !list.isEmpty else { return .reply(.reply(command: "NAMES", arguments: ["*"]), re: nil) }
            return Self.targets(command, params) { rooms in .several(rooms.map { .command(.who(room: $0), re: Self.re("NAMES", $0)) }) }
        case "WHO":
            guard let mask = params.first, !mask.isEmpty, mask != "*", mask != "0" else {
                return .reply(.reply(command: "WHO", arguments: [Self.shown(params.first ?? "*")]), re: nil)
            }
            return mask.hasPrefix("#")
                ? .command(.who(room: mask), re: Self.re("WHO", mask)) : .command(.whois(nick: mask), re: Self.re("WHO", mask))
        case "WHOIS":
            // `WHOIS server nick` asks a given server: there is one.
            guard let nick = params.last, !nick.isEmpty else {
                return .invalid(.refused(.nickInvalid, "No nickname given"), re: Self.re("WHOIS"))
            }
            return .command(.whois(nick: nick), re: Self.re("WHOIS", nick))
        case "LIST":
            return .command(.rooms, re: Self.re("LIST"))
        case "NICKSERV", "NS":
            return Self.nickServ(params.joined(separator: " "))
        case "LUSERS":
            return .command(.counts, re: Self.re("LUSERS"))
        case "ISON", "USERHOST":
            // ISON takes nicks as parameters or space-separated in one; USERHOST up to 5.
            let nicks = params.flatMap { $0.split(separator: " ").map(String.init) }.filter { !$0.isEmpty }
            guard !nicks.isEmpty else { return .invalid(.usage(command: command, usage: "<nick>"), re: Self.re(command)) }
            return .command(.online(nicks: Array(nicks.prefix(command == "USERHOST" ? 5 : Command.maxOnlineNicks))), re: Self.re(command))
        case "MOTD", "VERSION":
            return .reply(.reply(command: command, arguments: []), re: nil)
        case "MODE":
            return mode(params)
        case "AWAY":
            let message = params.first.map { Sanitizer.trimmed(Self.clean($0)) } ?? ""
            return .command(.away(message: message.isEmpty ? nil : String(message.prefix(Command.maxAwayLength))), re: Self.re("AWAY"))
        case "HELP":
            return .command(.help(topic: params.first), re: Self.re("HELP"))
        case "KICK":
            // `KICK #room nick[,nick…] [:reason]`, or channels and nicks in pairs (RFC 2812,
            // 3.2.8: `KICK #a,#b alice,bob`).
            guard params.count >= 2, !params[0].isEmpty else {
                return .invalid(.usage(command: "KICK", usage: "<channel> <nick>"), re: Self.re("KICK"))
            }
            let rooms = params[0].split(separator: ",").map(String.init)
            let reason = params.count > 2 ? Sanitizer.trimmed(Self.clean(params[2])) : ""
            return Self.targets(command, [params[1]]) { nicks in
                guard rooms.count == 1 || rooms.count == nicks.count else {
                    return .invalid(.usage(command: "KICK", usage: "<channel> <nick>"), re: Self.re("KICK"))
                }
                return .several(
                    nicks.enumerated().map { index, nick in
                        let room = rooms.count == 1 ? rooms[0] : rooms[index]
                        return .command(
                            .kick(room: room, nick: nick, reason: reason.isEmpty ? nil : reason),
                            re: .string("KICK \(Self.shown(nick)) \(Self.shown(room))"))
                    })
            }
        case "INVITE":
            guard params.count >= 2, !params[0].isEmpty, !params[1].isEmpty else {
                return .invalid(.usage(command: "INVITE", usage: "<nick> <channel>"), re: Self.re("INVITE"))
            }
            return .command(
                .invite(nick: params[0], room: params[1]), re: .string("INVITE \(Self.shown(params[0])) \(Self.shown(params[1]))"))
        default:
            // Said back in 421: only what a command name may hold.
            let shown = String(Sanitizer.cleanArgument(command).prefix(32))
            return .invalid(.unknownCommand(shown), re: Self.re(shown.isEmpty ? "?" : shown))
        }
    }

    /// One `PRIVMSG` or `NOTICE` to one target: a channel is a room, anything else a nick. CTCP
    /// `ACTION` is `/me`; any other CTCP request is not passed on (chatd's other clients have no
    /// use for it, and its control bytes would be stripped anyway).
    private func message(_ command: String, to target: String, _ raw: String) -> Reading {
        var text = raw
        var isAction = false
        if text.hasPrefix("\u{1}") {
            var body = text.dropFirst()
            if body.hasSuffix("\u{1}") { body = body.dropLast() }
            guard body.hasPrefix("ACTION ") else { return .nothing }
            isAction = true
            text = String(body.dropFirst(7))
        }
        if target.lowercased() == "nickserv" { return command == "NOTICE" ? .nothing : Self.nickServ(text) }
        let cleaned = Self.clean(text)
        let re = Self.re(command, target)
        if command == "NOTICE" {
            return .command(.notice(to: target, text: isAction ? "* \(cleaned)" : cleaned), re: re)
        }
        if target.hasPrefix("#") {
            return .command(isAction ? .action(text: cleaned, room: target) : .say(text: cleaned, room: target), re: re)
        }
        return .command(.privateMessage(to: target, text: isAction ? "* \(cleaned)" : cleaned), re: re)
    }

    /// What IRC clients send NickServ (`/msg NickServ IDENTIFY …`, `/ns REGISTER …`), as the
    /// services of IRC networks take it: `REGISTER password`, `IDENTIFY [account] password`;
    /// chatd has no NickServ user, the server itself answers.
    static func nickServ(_ text: String) -> Reading {
        let words = text.split(separator: " ").map(String.init)
        let re = re("NICKSERV")
        switch words.first?.uppercased() {
        case "REGISTER" where words.count >= 2:
            // `REGISTER password [email]`: the address is not kept.
            return .command(.register(password: Password(words[1])), re: re)
        case "IDENTIFY" where words.count == 2:
            return .command(.login(nick: nil, password: Password(words[1])), re: re)
        case "IDENTIFY" where words.count >= 3:
            return .command(.login(nick: words[1], password: Password(words[2...].joined(separator: " "))), re: re)
        default:
            return .invalid(.usage(command: "NICKSERV", usage: "REGISTER <password> | IDENTIFY [account] <password>"), re: re)
        }
    }

    /// `MODE`: a channel's modes and its members' roles are the room's (`Command.mode`); users
    /// have none but the `i` everyone has (a change to it is ignored).
    private func mode(_ params: [String]) -> Reading {
        guard let target = params.first, !target.isEmpty else {
            return .invalid(.usage(command: "MODE", usage: "<target>"), re: Self.re("MODE"))
        }
        guard target.hasPrefix("#") else {
            guard params.count > 1 else { return .reply(.reply(command: "UMODE", arguments: [Self.shown(target)]), re: nil) }
            let flags = params[1].filter { $0 != "+" && $0 != "-" }
            return flags.allSatisfy({ $0 == "i" }) ? .nothing : .reply(.reply(command: "UMODEUNKNOWN", arguments: []), re: nil)
        }
        guard params.count > 1 else { return .command(.mode(room: target, modes: nil, arguments: []), re: Self.re("MODE", target)) }
        // The lists chatd keeps none of (bans, exceptions, invitation exceptions) are empty.
        if let list = ["b": "BANLIST", "+b": "BANLIST", "e": "EXCEPTLIST", "+e": "EXCEPTLIST", "I": "INVEXLIST", "+I": "INVEXLIST"][
            params[1]]
        {
            return .reply(.reply(command: list, arguments: [Self.shown(target)]), re: nil)
        }
        let parsed = RoomModeChange.parse(params[1], Array(params.dropFirst(2)))
        if let letter = parsed.unknown ?? parsed.changes.first(where: { $0.letter == "n" && !$0.adding })?.letter {
            return .invalid(.refused(.unknownMode, "is unknown mode char to me"), re: Self.re("MODE", String(letter)))
        }
        return .command(.mode(room: target, modes: params[1], arguments: Array(params.dropFirst(2))), re: Self.re("MODE", target))
    }

    /// `CAP`: `LS` lists the capabilities chatd offers, `REQ` enables (or, with `-`, disables)
    /// all those asked for, or none (`NAK`) when any is not offered, and `LIST` says which are
    /// on. Registration waits from `LS` or `REQ` until `END`.
    private func capability(_ params: [String], registered: Bool, state: inout DialectState) -> Reading {
        let sub = params.first?.uppercased() ?? ""
        var irc = state.irc
        let reading: Reading
        switch sub {
        case "LS":
            if !registered { irc.negotiating = true }
            // Version 302 and later read capability values (`sasl=PLAIN`).
            let values = params.count > 1 && (Int(params[1]) ?? 0) >= 302
            reading = .reply(.reply(command: "CAP", arguments: ["LS", IRCCapabilities.offered.names(values: values)]), re: nil)
        case "LIST":
            reading = .reply(.reply(command: "CAP", arguments: ["LIST", irc.capabilities.names]), re: nil)
        case "REQ":
            if !registered { irc.negotiating = true }
            let asked = params.count > 1 ? Sanitizer.clean(params[1]) : ""
            if let changed = irc.capabilities.applying(asked) {
                irc.capabilities = changed
                reading = .reply(.reply(command: "CAP", arguments: ["ACK", asked]), re: nil)
            } else {
                reading = .reply(.reply(command: "CAP", arguments: ["NAK", asked]), re: nil)
            }
        case "END":
            guard !registered, irc.negotiating else { return .nothing }
            if irc.checking {
                // SASL credentials are being checked: registration waits for the answer.
                irc.endedWhileChecking = true
                state = .irc(irc)
                return .nothing
            }
            irc.negotiating = false
            state = .irc(irc)
            return irc.registration
        default:
            return .reply(.reply(command: "CAPINVALID", arguments: [sub.isEmpty ? "*" : Sanitizer.cleanArgument(sub)]), re: nil)
        }
        state = .irc(irc)
        return reading
    }

    /// `AUTHENTICATE` (IRCv3 SASL, PLAIN only): `PLAIN`, then the base64 of
    /// `authzid NUL authcid NUL password` in chunks of 400 (`+` for an empty one). The
    /// credentials are checked by the server (`Reading.authenticate`); registration waits.
    private func authenticate(_ params: [String], registered: Bool, state: inout DialectState) -> Reading {
        var irc = state.irc
        defer { state = .irc(irc) }
        guard let word = params.first, !word.isEmpty else {
            return .invalid(.usage(command: "AUTHENTICATE", usage: "<mechanism>"), re: Self.re("AUTHENTICATE"))
        }
        if registered || irc.account != nil {
            return .reply(.reply(command: "SASLALREADY", arguments: []), re: nil)
        }
        guard irc.capabilities.contains(.sasl), !irc.checking else { return .reply(.reply(command: "SASL", arguments: ["fail"]), re: nil) }
        if word == "*" {
            irc.saslPayload = nil
            return .reply(.reply(command: "SASLABORTED", arguments: []), re: nil)
        }
        guard var payload = irc.saslPayload else {
            guard word.uppercased() == "PLAIN" else { return .reply(.reply(command: "SASLMECHS", arguments: []), re: nil) }
            irc.saslPayload = ""
            return .reply(.reply(command: "AUTHENTICATE", arguments: ["+"]), re: nil)
        }
        if word != "+" { payload += word }
        guard payload.utf8.count <= 1_600 else {
            irc.saslPayload = nil
            return .reply(.reply(command: "SASLTOOLONG", arguments: []), re: nil)
        }
        if word.utf8.count == 400 {
            irc.saslPayload = payload  // more to come
            return .nothing
        }
        irc.saslPayload = nil
        guard let decoded = Base64.decode(payload) else { return .reply(.reply(command: "SASL", arguments: ["fail"]), re: nil) }
        let parts = decoded.split(separator: 0, maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3 else { return .reply(.reply(command: "SASL", arguments: ["fail"]), re: nil) }
        let authzid = String(decoding: parts[0], as: UTF8.self)
        let authcid = Sanitizer.cleanArgument(String(decoding: parts[1], as: UTF8.self))
        // Signing in as someone else (authzid) is not something chatd lets an account do.
        guard !authcid.isEmpty, authzid.isEmpty || authzid == authcid else {
            return .reply(.reply(command: "SASL", arguments: ["fail"]), re: nil)
        }
        irc.checking = true
        return .authenticate(account: authcid, password: Password(String(decoding: parts[2], as: UTF8.self)))
    }

    /// What a client wrote, for everyone: IRC's formatting codes removed with their arguments
    /// (bold, italics, underline, strike-through, monospace, reverse, reset, and colours with
    /// their numbers: `\u{3}4,1red` is `red`), then sanitized as every dialect's text is.
    /// Chatd's other clients cannot show them, so they are stripped for IRC clients too.
    static func clean(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var scalars = text.unicodeScalars[...]
        func take(_ count: Int, _ allowed: (Unicode.Scalar) -> Bool) -> Int {
            var taken = 0
            while taken < count, let next = scalars.first, allowed(next) {
                scalars.removeFirst()
                taken += 1
            }
            return taken
        }
        let digit: (Unicode.Scalar) -> Bool = { ("0"..."9").contains($0) }
        let hex: (Unicode.Scalar) -> Bool = { $0.properties.isASCIIHexDigit }
        while let scalar = scalars.popFirst() {
            switch scalar.value {
            case 0x02, 0x0F, 0x11, 0x16, 0x1D, 0x1E, 0x1F:
                continue
            case 0x03, 0x04:
                let (length, allowed) = scalar.value == 0x03 ? (2, digit) : (6, hex)
                if take(length, allowed) > 0, scalars.first == ",", let after = scalars.dropFirst().first, allowed(after) {
                    scalars.removeFirst()
                    _ = take(length, allowed)
                }
            default:
                out.append(scalar)
            }
        }
        return Sanitizer.clean(String(out))
    }

    /// The most targets one line may name, by command (ISUPPORT's `TARGMAX`): one line costs
    /// one flood token, so it may not fan out into unbounded work.
    static let maxTargets: [String: Int] = ["JOIN": 10, "KICK": 4, "PART": 10, "NAMES": 10, "PRIVMSG": 4, "NOTICE": 4]

    /// What `read` makes of the comma-separated targets of `JOIN`, `PART`, `PRIVMSG`, … in the
    /// first parameter (empty ones dropped, so `read` gets at least one); or the refusal: none
    /// (461, or 411 for messages), or more than `maxTargets` (407).
    static func targets(_ command: String, _ params: [String], _ read: ([String]) -> Reading) -> Reading {
        let list = (params.first ?? "").split(separator: ",").map { Sanitizer.cleanArgument(String($0)) }.filter { !$0.isEmpty }
        guard !list.isEmpty else {
            let usage = command == "PRIVMSG" || command == "NOTICE" ? "<target> <text>" : "<channel>"
            return .invalid(.usage(command: command, usage: usage), re: re(command))
        }
        if let most = maxTargets[command], list.count > most {
            return .invalid(.refused(.tooManyTargets, "Too many targets"), re: re(command, list[most]))
        }
        return read(list)
    }

    /// The request id an IRC request's answer carries: its command and target, which the
    /// numerics name (`433 * alice :Nickname is already in use`).
    static func re(_ command: String, _ target: String? = nil) -> RequestID {
        .string(target.map { "\(command) \(shown($0))" } ?? command)
    }

    /// A client's word as a numeric may say it back: sanitized, without spaces (which would
    /// end the parameter), and at most 64 characters.
    static func shown(_ word: String) -> String {
        let cleaned = String(Sanitizer.cleanArgument(word).filter { $0 != " " }.prefix(64))
        return cleaned.isEmpty ? "*" : cleaned
    }

    public func render(_ event: Event, _ view: View) -> [UInt8] {
        render(event, view, to: nil)
    }

    public func render(_ event: Event, _ view: View, to recipient: String?) -> [UInt8] {
        Array(
            IRCFormat(server: IRCServer.current, recipient: recipient, capabilities: IRCCapabilities(view: view.extensions)).render(
                event, view
            ).utf8)
    }

    public func canonical(_ view: View) -> View {
        View(isEcho: view.isEcho, extensions: view.extensions)
    }

    /// A refused client reads `ERROR` with the reason.
    public func renderRefusal(_ bye: Event) -> [UInt8] {
        render(bye, View(isAnswer: true), to: nil)
    }
}

/// What IRC registration keeps until the client has a nick: the nick and user it sent, and
/// whether it is negotiating capabilities (registration waits for `CAP END`).
public struct IRCState: Equatable, Sendable {
    var nick: String?
    var user: String?
    var negotiating = false
    var capabilities: IRCCapabilities = []
    /// SASL: the base64 payload so far, after `AUTHENTICATE PLAIN` (nil when none is under way).
    var saslPayload: String?
    /// SASL credentials are being checked by the server.
    var checking = false
    /// `CAP END` came while they were: registration follows the answer.
    var endedWhileChecking = false
    /// The account SASL signed in to, which registration binds the connection to.
    var account: String?

    public init() {}

    /// The registration, once `NICK` and `USER` are both sent and no capability negotiation is
    /// under way; nothing before.
    var registration: Reading {
        guard let nick, user != nil, !negotiating, !checking else { return .nothing }
        return .hello(nick: nick, client: nil, re: IRCDialect.re("NICK", nick))
    }

    /// The server checked the SASL credentials: `account`, or nil. 900 and 903, or 904; then
    /// the registration that waited, if `CAP END` came meanwhile.
    mutating func authenticated(_ account: String?) -> Reading {
        checking = false
        self.account = account
        let answer = Reading.reply(.reply(command: "SASL", arguments: account.map { ["ok", $0] } ?? ["fail"]), re: nil)
        guard endedWhileChecking else { return answer }
        endedWhileChecking = false
        negotiating = false
        return .several([answer, registration])
    }
}

/// The IRCv3 capabilities chatd offers. Each changes how lines are rendered, so they travel in
/// `View.extensions`.
public struct IRCCapabilities: OptionSet, Equatable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// `@msgid=` on users' messages (and client tags are accepted and dropped).
    public static let messageTags = IRCCapabilities(rawValue: 1)
    /// `@time=` on users' messages and events, and on kept lines their own time.
    public static let serverTime = IRCCapabilities(rawValue: 2)
    /// `nick!user@host` in NAMES replies.
    public static let userhostInNames = IRCCapabilities(rawValue: 4)
    /// Scrollback comes as a `chathistory` batch.
    public static let batch = IRCCapabilities(rawValue: 8)
    /// The client's own messages come back to it, as everyone else sees them.
    public static let echoMessage = IRCCapabilities(rawValue: 16)
    /// All of a member's prefixes (`@+alice`) in NAMES and WHO, not only the highest.
    public static let multiPrefix = IRCCapabilities(rawValue: 32)
    /// `AWAY` from the members of one's channels when they go away or come back.
    public static let awayNotify = IRCCapabilities(rawValue: 64)
    /// Signing in to an account during registration (`AUTHENTICATE`, PLAIN). Changes no
    /// rendering, so it is not among `rendered`.
    public static let sasl = IRCCapabilities(rawValue: 256)
    /// `@account=` on what a signed-in user says.
    public static let accountTag = IRCCapabilities(rawValue: 128)

    static let rendered = IRCCapabilities(rawValue: 0xFF)
    public static let offered: IRCCapabilities = [
        .messageTags, .serverTime, .userhostInNames, .batch, .echoMessage, .multiPrefix, .awayNotify, .sasl, .accountTag,
    ]

    static let named: [(String, IRCCapabilities)] = [
        ("account-tag", .accountTag), ("away-notify", .awayNotify), ("batch", .batch), ("echo-message", .echoMessage),
        ("message-tags", .messageTags),
        ("multi-prefix", .multiPrefix),
        ("sasl", .sasl), ("server-time", .serverTime), ("userhost-in-names", .userhostInNames),
    ]

    /// Space-separated, as `CAP LIST` gives them.
    var names: String { names(values: false) }

    /// Space-separated, with their values for `CAP LS 302` (`sasl=PLAIN`).
    func names(values: Bool) -> String {
        Self.named.filter { contains($0.1) }.map { values && $0.1 == .sasl ? "\($0.0)=PLAIN" : $0.0 }.joined(separator: " ")
    }

    /// These with a `CAP REQ` list applied (`name` enables, `-name` disables), or nil when it
    /// names anything not offered (the whole request is then refused).
    func applying(_ request: String) -> IRCCapabilities? {
        var result = self
        let words = request.split(separator: " ")
        guard !words.isEmpty else { return nil }
        for word in words {
            let remove = word.hasPrefix("-")
            let name = remove ? word.dropFirst() : word[...]
            guard let capability = Self.named.first(where: { $0.0 == name })?.1 else { return nil }
            if remove { result.remove(capability) } else { result.insert(capability) }
        }
        return result
    }

    /// The rendered ones, from a view's extensions.
    init(view extensions: UInt8) { self.init(rawValue: UInt16(extensions)) }
}

extension DialectState {
    /// The account SASL signed the connection in to before registration, if any.
    var authenticatedAccount: String? { irc.account }

    /// The IRC state (a fresh one if the connection keeps none).
    var irc: IRCState {
        if case .irc(let state) = self { return state }
        return IRCState()
    }
}

extension ErrorCode {
    /// A line naming more targets than `TARGMAX` allows (IRC's `407`).
    public static let tooManyTargets = ErrorCode(rawValue: "too_many_targets")
}

/// One IRC message, as a client sends it: `[@tags] [:prefix] COMMAND [params] [:trailing]`.
/// Tags and prefix are read past (a client's own prefix means nothing).
struct IRCMessage: Equatable {
    var command: String
    var params: [String]

    /// At most 15 parameters, as RFC 1459 allows; the last takes the rest of the line.
    static let maxParams = 15

    init(command: String, params: [String]) {
        self.command = command
        self.params = params
    }

    init?(_ line: [UInt8]) {
        var text = Substring(String(decoding: line, as: UTF8.self))
        func skipSpaces() { text = text.drop { $0 == " " } }
        func word() -> Substring {
            let end = text.firstIndex(of: " ") ?? text.endIndex
            defer { text = text[end...] }
            return text[..<end]
        }
        skipSpaces()
        if text.first == "@" {
            _ = word()
            skipSpaces()
        }
        if text.first == ":" {
            _ = word()
            skipSpaces()
        }
        let command = word()
        guard !command.isEmpty else { return nil }
        self.command = command.uppercased()
        params = []
        while true {
            skipSpaces()
            if text.isEmpty { break }
            if text.first == ":" || params.count == Self.maxParams - 1 {
                params.append(String(text.first == ":" ? text.dropFirst() : text))
                break
            }
            params.append(String(word()))
        }
    }
}

/// What IRC clients are told about the server: its name (the prefix of every server line),
/// the network's, the MOTD, and the limits ISUPPORT announces. The daemon sets it at start and
/// on reload (`IRCServer.current`).
public struct IRCServerInfo: Equatable, Sendable {
    /// A host-like name without spaces (`irc.example.org`).
    public var serverName: String
    public var network: String
    public var version: String
    public var createdAt: Timestamp
    public var motd: [String]
    public var nickLength: Int
    public var roomNameLength: Int
    public var maxRooms: Int
    /// `irc.pingIntervalSeconds` (0: no pings) and `irc.pingTimeoutSeconds`.
    public var pingIntervalSeconds: Int
    public var pingTimeoutSeconds: Int

    public init(
        serverName: String = "chatd", network: String = "chatd", version: String = "0", createdAt: Timestamp = Timestamp(milliseconds: 0),
        motd: [String] = [], nickLength: Int = 32, roomNameLength: Int = 50, maxRooms: Int = 20, pingIntervalSeconds: Int = 0,
        pingTimeoutSeconds: Int = 60
    ) {
        self.pingIntervalSeconds = pingIntervalSeconds
        self.pingTimeoutSeconds = pingTimeoutSeconds
        self.serverName = serverName
        self.network = network
        self.version = version
        self.createdAt = createdAt
        self.motd = motd
        self.nickLength = nickLength
        self.roomNameLength = roomNameLength
        self.maxRooms = maxRooms
    }
}

/// The server's IRC identity in force: read at each rendering (a copy under a lock), replaced
/// by the daemon on start and reload.
public enum IRCServer {
    private static let info = Mutex(IRCServerInfo())

    public static var current: IRCServerInfo {
        get { info.withLock { $0 } }
        set { info.withLock { $0 = newValue } }
    }
}
