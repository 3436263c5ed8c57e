/// Renders events as IRC lines (RFC 1459/2812 as the modern client protocol documentation
/// describes them): users' traffic as `:nick!user@host COMMAND …`, the server's answers as
/// numerics addressed to `recipient`. Every line, CRLF included, fits IRC's 512 bytes: a long
/// message is split across several, at a space where it can be and never inside a character.
struct IRCFormat {
    let server: IRCServerInfo
    /// The nick the numerics are addressed to (`*` before registration).
    let target: String
    /// What the recipient negotiated (tags, echoes, masks in NAMES).
    let capabilities: IRCCapabilities

    /// IRC's limit on a line, CRLF included.
    static let maxLineBytes = 512

    init(server: IRCServerInfo, recipient: String?, capabilities: IRCCapabilities = []) {
        self.server = server
        self.target = recipient ?? "*"
        self.capabilities = capabilities
    }

    func render(_ event: Event, _ view: View) -> String {
        let (command, argument) = Self.request(event.re)
        let tags = tags(event)
        switch event.kind {
        case .hello, .nickRequired, .current:
            return ""
        case .welcome(let nick, _):
            return welcome(nick)
        case .message(let room, let from, let text):
            return view.isEcho ? "" : said(from, "PRIVMSG", room, text, tags: tags)
        case .action(let room, let from, let text):
            return view.isEcho ? "" : said(from, "PRIVMSG", room, text, action: true, tags: tags)
        case .privateMessage(let from, let to, let text):
            // The sender's own copy, with echo-message only.
            return view.isEcho && !capabilities.contains(.echoMessage) ? "" : said(from, "PRIVMSG", to, text, tags: tags)
        case .userNotice(let from, let to, let text):
            return view.isEcho && !capabilities.contains(.echoMessage) ? "" : said(from, "NOTICE", to, text, tags: tags)
        case .join(let room, let nick):
            return tags + ":\(mask(nick)) JOIN \(room)\r\n"
        case .part(let room, let nick, let reason):
            return tags + ":\(mask(nick)) PART \(room)" + (reason.map { " :\($0)" } ?? "") + "\r\n"
        case .quit(let nick, let reason):
            return tags + ":\(mask(nick)) QUIT :\(reason)\r\n"
        case .nickChange(let old, let new):
            return tags + ":\(mask(old)) NICK :\(new)\r\n"
        case .notice(let text):
            // A room too big to list on joining says so instead (`Directory.memberListOnJoinLimit`);
            // an IRC client still needs the end of the names to call the join done.
            // A MODE that changes nothing is silent on IRC, as IRC servers keep it.
            if command == "MODE" { return "" }
            guard command == "JOIN", let room = argument else { return notice(target, text) }
            return notice(target, text) + numeric(366, room, "End of /NAMES list.")
        case .announcement(let text, let room):
            return notice(room ?? target, text)
        case .error(let code, let message):
            return error(code, message, command: command, argument: argument)
        case .who(let room, let members, let roles):
            if command == "WHO" {
                return members.map { whoLine(room, $0, roles[$0] ?? []) }.joined() + numeric(315, room, "End of /WHO list.")
            }
            return names(room, members, roles)
        case .kick(let room, let nick, let by, let reason):
            return tags + ":\(mask(by)) KICK \(room) \(nick) :\(reason ?? by)\r\n"
        case .modeChange(let room, let by, let changes):
            return tags + ":\(by.map(mask) ?? server.serverName) MODE \(room) \(RoomModeChange.describe(changes))\r\n"
        case .modes(let room, let modes, let key, let createdAt):
            return numeric(324, "\(room) \(modes)" + (key.map { "k \($0)" } ?? ""), nil)
                + numeric(329, "\(room) \(createdAt.milliseconds / 1000)", nil)
        case .invite(let room, let from, let to):
            if view.isEcho { return numeric(341, "\(to) \(room)", nil) }
            return tags + ":\(mask(from)) INVITE \(to) \(room)\r\n"
        case .whois(let whois):
            if command == "WHO" {
                return whoLine(whois.rooms.first ?? "*", whois.nick, []) + numeric(315, argument ?? whois.nick, "End of /WHO list.")
            }
            return whoisLines(whois)
        case .history(let room, let lines):
            return history(room, lines)
        case .awaySet(let message):
            return message == nil
                ? numeric(305, nil, "You are no longer marked as being away") : numeric(306, nil, "You have been marked as being away")
        case .away(let nick, let message):
            return command == "NOTICE" ? "" : numeric(301, nick, message)
        case .account(let name):
            // RPL_LOGGEDIN / RPL_LOGGEDOUT (IRCv3 SASL numerics, which NickServ-style sign-ins use too).
            guard let name else { return numeric(901, "\(mask(target))", "You are now logged out") }
            return numeric(900, "\(mask(target)) \(name)", "You are now logged in as \(name)")
        case .awayChanged(let nick, let message):
            guard capabilities.contains(.awayNotify) else { return "" }
            return tags + ":\(mask(nick)) AWAY" + (message.map { " :\($0)" } ?? "") + "\r\n"
        case .topic(let room, let topic, let changedBy):
            if let changedBy { return tags + ":\(mask(changedBy)) TOPIC \(room) :\(topic?.text ?? "")\r\n" }
            guard let topic else { return numeric(331, room, "No topic is set") }
            return numeric(332, room, topic.text) + numeric(333, "\(room) \(topic.setBy) \(topic.setAt.milliseconds / 1000)", nil)
        case .rooms(let rooms):
            return numeric(321, "Channel", "Users  Name")
                + rooms.map { numeric(322, "\($0.name) \($0.members)", $0.topic ?? "") }.joined()
                + numeric(323, nil, "End of /LIST")
        case .help(let lines):
            return lines.map { notice(target, $0) }.joined()
        case .online(let nicks, let away):
            if command == "USERHOST" {
                return numeric(
                    302, nil, nicks.map { "\($0)=\(away.contains($0) ? "-" : "+")\(user($0))@\(server.serverName)" }.joined(separator: " "))
            }
            return numeric(303, nil, nicks.joined(separator: " "))
        case .counts(let users, let rooms, let peak):
            return numeric(251, nil, "There are \(users) users and 0 invisible on 1 servers")
                + numeric(254, String(rooms), "channels formed")
                + numeric(255, nil, "I have \(users) clients and 0 servers")
                + numeric(265, "\(users) \(peak)", "Current local users \(users), max \(peak)")
                + numeric(266, "\(users) \(peak)", "Current global users \(users), max \(peak)")
        case .pong(let token):
            return ":\(server.serverName) PONG \(server.serverName) :\(token ?? "")\r\n"
        case .bye(let reason, _):
            return "ERROR :Closing Link: \(target) (\(reason))\r\n"
        case .reply(let command, let arguments):
            return reply(command, arguments)
        }
    }

    // MARK: Registration

    private func welcome(_ nick: String) -> String {
        let me = IRCFormat(server: server, recipient: nick)
        let version = "chatd-\(server.version)"
        let tokens = [
            "CASEMAPPING=rfc8265", "CHANLIMIT=#:\(server.maxRooms)", "CHANMODES=,k,,imnt", "CHANNELLEN=\(server.roomNameLength + 1)",
            "CHANTYPES=#", "KEYLEN=\(Directory.maxKeyLength)", "MODES=\(RoomModeChange.maxWithArgument)", "NETWORK=\(server.network)",
            "NICKLEN=\(server.nickLength)", "PREFIX=(ov)@+",
            "TARGMAX="
                + (IRCDialect.maxTargets.sorted { $0.key < $1.key }.map { "\($0.key):\($0.value)" } + ["WHOIS:1"]).joined(separator: ","),
            "TOPICLEN=\(Command.maxTopicLength)", "UTF8ONLY",
        ]
        return me.numeric(1, nil, "Welcome to the \(server.network) IRC Network, \(nick)")
            + me.numeric(2, nil, "Your host is \(server.serverName), running version \(version)")
            + me.numeric(3, nil, "This server was created \(server.createdAt.iso8601)")
            + me.numeric(4, "\(server.serverName) \(version) i ikmnotv kov", nil)
            + me.numeric(5, tokens.joined(separator: " "), "are supported by this server")
            + me.motd()
    }

    private func motd() -> String {
        guard !server.motd.isEmpty else { return numeric(422, nil, "MOTD File is missing") }
        return numeric(375, nil, "- \(server.serverName) Message of the day - ")
            + server.motd.map { numeric(372, nil, "- \($0)") }.joined()
            + numeric(376, nil, "End of /MOTD command.")
    }

    private func reply(_ command: String, _ arguments: [String]) -> String {
        let first = arguments.first ?? "*"
        switch command {
        case "CAP":
            return ":\(server.serverName) CAP \(target) \(first) :\(arguments.dropFirst().first ?? "")\r\n"
        case "CAPINVALID":
            return numeric(410, first, "Invalid CAP command")
        case "MOTD":
            return motd()
        case "VERSION":
            return numeric(351, "chatd-\(server.version) \(server.serverName)", "chatd")
        case "NAMES":
            return numeric(366, first, "End of /NAMES list.")
        case "WHO":
            return numeric(315, first, "End of /WHO list.")
        case "BANLIST":
            return numeric(368, first, "End of channel ban list")
        case "AUTHENTICATE":
            return "AUTHENTICATE +\r\n"
        case "SASL":
            guard first == "ok", let account = arguments.dropFirst().first else {
                return numeric(904, nil, "SASL authentication failed")
            }
            return numeric(900, "\(mask(target)) \(account)", "You are now logged in as \(account)")
                + numeric(903, nil, "SASL authentication successful")
        case "SASLABORTED":
            return numeric(906, nil, "SASL authentication aborted")
        case "SASLMECHS":
            return numeric(908, "PLAIN", "are available SASL mechanisms") + numeric(904, nil, "SASL authentication failed")
        case "SASLALREADY":
            return numeric(907, nil, "You have already authenticated using SASL")
        case "SASLTOOLONG":
            return numeric(905, nil, "SASL message too long")
        case "EXCEPTLIST":
            return numeric(349, first, "End of channel exception list")
        case "INVEXLIST":
            return numeric(347, first, "End of channel invite list")
        case "UMODE":
            return numeric(221, "+", nil)
        default:
            return numeric(501, nil, "Unknown MODE flag")
        }
    }

    // MARK: Errors

    /// The numeric for a refused request, with the wording the modern IRC documentation uses.
    /// A `NOTICE` is never answered (RFC 2812, 3.3.2), not even with an error.
    private func error(_ code: ErrorCode, _ message: String, command: String?, argument: String?) -> String {
        if command == "NOTICE" { return "" }
        let subject = argument ?? "*"
        switch code {
        case .unknownCommand: return numeric(421, command ?? "*", "Unknown command")
        case .usage:
            if command == "PRIVMSG" {
                return argument == nil ? numeric(411, nil, "No recipient given (PRIVMSG)") : numeric(412, nil, "No text to send")
            }
            return numeric(461, command ?? "*", "Not enough parameters")
        case .notRegistered: return numeric(451, nil, "You have not registered")
        case .alreadyRegistered: return numeric(462, nil, "You may not reregister")
        case .nickInvalid, .nickReserved:
            return argument == nil ? numeric(431, nil, "No nickname given") : numeric(432, subject, "Erroneous nickname")
        case .nickInUse: return numeric(433, subject, "Nickname is already in use")
        case .nickBanned: return numeric(432, subject, message)
        case .roomInvalid, .noSuchRoom: return numeric(403, room(subject), "No such channel")
        case .notInRoom:
            if command == "PRIVMSG" { return numeric(404, subject, "Cannot send to channel") }
            return numeric(442, room(subject), "You're not on that channel")
        case .tooManyRooms: return numeric(405, subject, "You have joined too many channels")
        case .opNeeded: return numeric(482, room(subject), "You're not channel operator")
        case .userNotInRoom: return numeric(441, command == "KICK" ? subject : "* \(subject)", "They aren't on that channel")
        case .alreadyInRoom: return numeric(443, subject, "is already on channel")
        case .unknownMode: return numeric(472, subject, "is unknown mode char to me")
        case .inviteOnly: return numeric(473, subject, "Cannot join channel (+i)")
        case .badKey: return numeric(475, subject, "Cannot join channel (+k)")
        case .moderated: return numeric(404, subject, "Cannot send to channel (+m)")
        case .tooManyTargets: return numeric(407, subject, "Too many targets. The most is given in TARGMAX (005)")
        case .lineTooLong: return numeric(417, nil, "Input line was too long")
        case .noSuchNick:
            let missing = numeric(401, nick(subject), "No such nick/channel")
            if command == "WHOIS" { return missing + numeric(318, subject, "End of /WHOIS list.") }
            if command == "WHO" { return numeric(315, subject, "End of /WHO list.") }
            return missing
        default: return notice(target, message)
        }
    }

    /// The channel and the nick of a `KICK` or `INVITE` request's subject (`nick #room`); a
    /// lone word is both.
    private func room(_ subject: String) -> String { String(subject.split(separator: " ").last ?? "*") }
    private func nick(_ subject: String) -> String { String(subject.split(separator: " ").first ?? "*") }

    // MARK: Lists

    private func names(_ room: String, _ members: [String], _ roles: [String: RoomRole]) -> String {
        let head = ":\(server.serverName) 353 \(target) = \(room) :"
        var out = ""
        var line = ""
        let all = capabilities.contains(.multiPrefix)
        for nick in members {
            let member = (roles[nick]?.prefix(all: all) ?? "") + (capabilities.contains(.userhostInNames) ? mask(nick) : nick)
            if !line.isEmpty && head.utf8.count + line.utf8.count + 1 + member.utf8.count + 2 > Self.maxLineBytes {
                out += head + line + "\r\n"
                line = ""
            }
            line += line.isEmpty ? member : " " + member
        }
        if !line.isEmpty { out += head + line + "\r\n" }
        return out + numeric(366, room, "End of /NAMES list.")
    }

    private func whoLine(_ room: String, _ nick: String, _ role: RoomRole) -> String {
        let flags = "H" + role.prefix(all: capabilities.contains(.multiPrefix))
        return numeric(352, "\(room) \(user(nick)) \(server.serverName) \(server.serverName) \(nick) \(flags)", "0 \(nick)")
    }

    private func whoisLines(_ whois: Whois) -> String {
        var out = numeric(311, "\(whois.nick) \(user(whois.nick)) \(server.serverName) *", whois.nick)
        if !whois.rooms.isEmpty { out += numeric(319, whois.nick, whois.rooms.joined(separator: " ")) }
        out += numeric(312, "\(whois.nick) \(server.serverName)", "\(server.network) (chatd; client \(whois.client))")
        if let away = whois.away { out += numeric(301, whois.nick, away) }
        if let account = whois.account { out += numeric(330, "\(whois.nick) \(account)", "is logged in as") }
        out += numeric(317, "\(whois.nick) \(whois.idleSeconds) \(whois.connectedAt.milliseconds / 1000)", "seconds idle, signon time")
        return out + numeric(318, whois.nick, "End of /WHOIS list.")
    }

    /// A room's kept lines, between notices, each from its sender with its time (UTC).
    private func history(_ room: String, _ lines: [HistoryRecord]) -> String {
        let timed = capabilities.contains(.serverTime)
        // With batch, the lines are a `chathistory` batch; without, between two notices.
        let batch = capabilities.contains(.batch) ? "h\(lines.last?.id ?? 0)" : nil
        let count = "\(lines.count) \(lines.count == 1 ? "line" : "lines")\(timed ? "" : ", times in UTC")"
        var out =
            batch.map { ":\(server.serverName) BATCH +\($0) chathistory \(room)\r\n" }
            ?? notice(room, "Scrollback of \(room) (\(count)):")
        for line in lines {
            // With server-time, each line carries its own time; without, its text does.
            let clock = String(line.time.iso8601.dropFirst(11).prefix(8))
            let tags = tags(time: line.time, id: line.id, batch: batch)
            out += said(line.from, "PRIVMSG", room, timed ? line.text : "[\(clock)] \(line.text)", action: line.isAction, tags: tags)
        }
        return out + (batch.map { ":\(server.serverName) BATCH -\($0)\r\n" } ?? notice(room, "End of scrollback."))
    }

    // MARK: Lines

    /// `:server NNN target middle :trailing`.
    func numeric(_ number: Int, _ middle: String?, _ trailing: String?) -> String {
        let code = number < 10 ? "00\(number)" : number < 100 ? "0\(number)" : String(number)
        var line = ":\(server.serverName) \(code) \(target)"
        if let middle { line += " " + middle }
        if let trailing { line += " :" + trailing }
        return Self.clipped(line) + "\r\n"
    }

    private func notice(_ to: String, _ text: String) -> String {
        said(nil, "NOTICE", to, text)
    }

    /// `:sender COMMAND to :text`, split into as many lines as IRC's limit needs (the
    /// server's when `from` is nil). An action is wrapped in CTCP `ACTION` on every line.
    private func said(_ from: String?, _ command: String, _ to: String, _ text: String, action: Bool = false, tags: String = "") -> String {
        let prefix = ":\(from.map(mask) ?? server.serverName) \(command) \(to) :" + (action ? "\u{1}ACTION " : "")
        let suffix = (action ? "\u{1}" : "") + "\r\n"
        // The 512 bytes are the message's; its tags have a budget of their own (IRCv3).
        let room = max(16, Self.maxLineBytes - prefix.utf8.count - suffix.utf8.count)
        return Self.split(text, maxBytes: room).map { tags + prefix + $0 + suffix }.joined()
    }

    /// The tags an event's lines carry for this recipient: `time` (server-time), `msgid`
    /// (message-tags), or nothing.
    private func tags(_ event: Event) -> String {
        tags(time: event.time, id: event.id, account: event.account)
    }

    private func tags(time: Timestamp, id: UInt64, batch: String? = nil, account: String? = nil) -> String {
        var tags: [String] = batch.map { ["batch=\($0)"] } ?? []
        if let account, capabilities.contains(.accountTag) { tags.append("account=\(account)") }
        if capabilities.contains(.serverTime) { tags.append("time=\(time.iso8601)") }
        if capabilities.contains(.messageTags) { tags.append("msgid=\(id)") }
        return tags.isEmpty ? "" : "@" + tags.joined(separator: ";") + " "
    }

    /// `nick!~user@host`: chatd shows no client's address, so every host is the server's name.
    private func mask(_ nick: String) -> String {
        "\(nick)!\(user(nick))@\(server.serverName)"
    }

    private func user(_ nick: String) -> String { "~" + nick }

    /// Text in pieces of at most `maxBytes` bytes of UTF-8: each ends at the last space that
    /// fits (the space dropped) if there is one in its second half, else at the last whole
    /// character that fits.
    static func split(_ text: String, maxBytes: Int) -> [String] {
        guard text.utf8.count > maxBytes else { return [text] }
        var pieces: [String] = []
        var rest = Substring(text)
        while rest.utf8.count > maxBytes {
            var end = rest.startIndex
            var bytes = 0
            var lastSpace: String.Index?
            for index in rest.indices {
                let size = rest[index].utf8.count
                if bytes + size > maxBytes { break }
                bytes += size
                end = rest.index(after: index)
                if rest[index] == " " && bytes > maxBytes / 2 { lastSpace = index }
            }
            if end == rest.startIndex { end = rest.index(after: rest.startIndex) }  // one character longer than the limit
            if let space = lastSpace {
                pieces.append(String(rest[..<space]))
                rest = rest[rest.index(after: space)...]
            } else {
                pieces.append(String(rest[..<end]))
                rest = rest[end...]
            }
        }
        if !rest.isEmpty { pieces.append(String(rest)) }
        return pieces
    }

    /// A line cut to IRC's limit (before its CRLF) at a character boundary.
    static func clipped(_ line: String) -> String {
        guard line.utf8.count > maxLineBytes - 2 else { return line }
        return split(line, maxBytes: maxLineBytes - 2).first ?? line
    }

    /// The IRC command and target an answer's request id names (`IRCDialect.re`).
    static func request(_ re: RequestID?) -> (command: String?, argument: String?) {
        guard case .string(let text)? = re else { return (nil, nil) }
        guard let space = text.firstIndex(of: " ") else { return (text, nil) }
        return (String(text[..<space]), String(text[text.index(after: space)...]))
    }
}
