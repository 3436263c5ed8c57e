/// Renders events as the human-readable lines of the text protocol, each ending in CRLF.
///
/// Server lines start with `***`, so they cannot be confused with a user's `<nick> text`
/// or `* nick action`.
public enum TextFormat {
    /// Renders `event`. Room traffic is prefixed with `[#room] ` when `inCurrentRoom` is false,
    /// so someone in several rooms can tell them apart.
    public static func render(_ event: Event, inCurrentRoom: Bool = true) -> String {
        switch event.kind {
        case .hello(let server, let version, let motd, _):
            var lines = "*** Welcome to \(server) (chatd \(version)).\r\n"
            for line in motd { lines += "*** \(line)\r\n" }
            return lines
        case .nickRequired: return "*** Please choose a nickname:\r\n"
        case .welcome(let nick, let room):
            return "*** You are now known as \(nick), talking in \(room). Type /help for the commands.\r\n"
        case .message(let room, let from, let text):
            return roomPrefix(room, inCurrentRoom) + "<\(from)> \(text)\r\n"
        case .action(let room, let from, let text):
            return roomPrefix(room, inCurrentRoom) + "* \(from) \(text)\r\n"
        case .privateMessage(let from, let to, let text):
            // Rendered for the recipient; the sender's copy is `ownPrivateMessage`.
            _ = to
            return "*\(from)* \(text)\r\n"
        case .userNotice(let from, let to, let text):
            return (to.hasPrefix("#") ? roomPrefix(to, inCurrentRoom) : "") + "-\(from)- \(text)\r\n"
        case .join(let room, let nick): return "*** \(nick) has joined \(room)\r\n"
        case .part(let room, let nick, let reason):
            return "*** \(nick) has left \(room)\(reason.map { " (\($0))" } ?? "")\r\n"
        case .quit(let nick, let reason): return "*** \(nick) has quit (\(reason))\r\n"
        case .nickChange(let old, let new): return "*** \(old) is now known as \(new)\r\n"
        case .current(let room): return "*** Now talking in \(room)\r\n"
        case .notice(let text): return "*** \(text)\r\n"
        case .announcement(let text, let room): return "*** Announcement\(room.map { " to \($0)" } ?? ""): \(text)\r\n"
        case .error(_, let message): return "*** Error: \(message)\r\n"
        case .who(let room, let members, let roles):
            let listed = members.map { (roles[$0]?.prefix() ?? "") + $0 }.joined(separator: ", ")
            return "*** \(room) (\(members.count) \(members.count == 1 ? "user" : "users")): \(listed)\r\n"
        case .kick(let room, let nick, let by, let reason):
            return "*** \(nick) was kicked from \(room) by \(by)\(reason.map { " (\($0))" } ?? "")\r\n"
        case .modeChange(let room, let by, let changes):
            return "*** \(by ?? "The server's operator") sets mode \(RoomModeChange.describe(changes)) on \(room)\r\n"
        case .modes(let room, let modes, let key, let createdAt):
            return "*** Modes of \(room): \(modes)\(key.map { "k (key: \($0))" } ?? ""); created \(createdAt.shortUTC)\r\n"
        case .invite(let room, let from, _):
            return "*** \(from) invites you to \(room): /join \(room)\r\n"
        case .history(let room, let lines):
            var text = "*** Scrollback of \(room) (\(lines.count) \(lines.count == 1 ? "line" : "lines"), times in UTC):\r\n"
            for line in lines {
                let clock = String(line.time.iso8601.dropFirst(11).prefix(8))  // HH:MM:SS
                text += "[\(clock)] " + (line.isAction ? "* \(line.from) \(line.text)" : "<\(line.from)> \(line.text)") + "\r\n"
            }
            return text + "*** End of scrollback.\r\n"
        case .whois(let whois):
            let rooms = whois.rooms.isEmpty ? "in no room" : "in " + whois.rooms.joined(separator: ", ")
            let connected = whois.connectedAt.iso8601
            let away = (whois.account.map { "; signed in as \($0)" } ?? "") + (whois.away.map { "; away: \($0)" } ?? "")
            return
                "*** \(whois.nick): \(rooms); connected since \(connected); idle \(Durations.short(whois.idleSeconds)); client \(whois.client)\(away)\r\n"
        case .awaySet(let message):
            return message.map { "*** You are marked as away: \($0)\r\n" } ?? "*** You are no longer marked as away.\r\n"
        case .away(let nick, let message):
            return "*** \(nick) is away: \(message)\r\n"
        case .awayChanged:
            return ""  // rooms are not told of away changes (only IRC's away-notify shows them)
        case .account(let name):
            return name.map { "*** You are signed in as \($0).\r\n" } ?? "*** You are not signed in to an account now.\r\n"
        case .topic(let room, let topic, let changedBy):
            switch (topic, changedBy) {
            case (let topic?, let by?): return "*** \(by) set the topic of \(room): \(topic.text)\r\n"
            case (nil, let by?): return "*** \(by) cleared the topic of \(room)\r\n"
            case (let topic?, nil):
                return "*** Topic of \(room): \(topic.text) (set by \(topic.setBy), \(topic.setAt.shortUTC))\r\n"
            case (nil, nil): return "*** \(room) has no topic\r\n"
            }
        case .rooms(let rooms):
            if rooms.isEmpty { return "*** No rooms.\r\n" }
            guard rooms.contains(where: { $0.topic != nil }) else {
                let list = rooms.map { "\($0.name) (\($0.members))" }.joined(separator: ", ")
                return "*** Rooms (\(rooms.count)): \(list)\r\n"
            }
            // With topics, a room a line.
            return "*** Rooms (\(rooms.count)):\r\n"
                + rooms.map { "***   \($0.name) (\($0.members))\($0.topic.map { ": \($0)" } ?? "")\r\n" }.joined()
        case .online(let nicks, let away):
            let listed = nicks.map { away.contains($0) ? "\($0) (away)" : $0 }
            return "*** Online: \(listed.isEmpty ? "nobody of those" : listed.joined(separator: ", "))\r\n"
        case .counts(let users, let rooms, let peak):
            return
                "*** \(users) \(users == 1 ? "user" : "users") in \(rooms) \(rooms == 1 ? "room" : "rooms"); at most \(peak) at once since start\r\n"
        case .help(let lines): return lines.map { "*** \($0)\r\n" }.joined()
        case .pong(let token): return "*** pong\(token.map { " \($0)" } ?? "")\r\n"
        case .bye(let reason, _): return "*** Closing connection: \(reason)\r\n"
        case .reply: return ""
        }
    }

    /// The sender's own copy of a private message: `-> *bob* text`.
    public static func ownPrivateMessage(to: String, text: String) -> String {
        "-> *\(to)* \(text)\r\n"
    }

    private static func roomPrefix(_ room: String, _ inCurrentRoom: Bool) -> String {
        inCurrentRoom ? "" : "[\(room)] "
    }
}

/// Renders events as JSON lines (docs/PROTOCOL.md), each ending in LF.
///
/// Members come in a fixed order: `type`, `id`, `ts`, the event's own members, then `re`.
public enum JSONFormat {
    public static func render(_ event: Event) -> [UInt8] {
        var w = JSONWriter(capacity: 160)
        w.beginObject()
        w.key("type")
        w.string(typeName(event.kind))
        w.key("id")
        w.integer(event.id)
        w.key("ts")
        w.string(event.time.iso8601)
        switch event.kind {
        case .hello(let server, let version, let motd, let limits):
            w.key("server")
            w.string(server)
            w.key("version")
            w.string(version)
            w.key("protocol")
            w.integer(1)
            w.key("motd")
            strings(motd, &w)
            if let limits {
                w.key("limits")
                w.beginObject()
                w.key("maxLineBytes")
                w.integer(limits.maxLineBytes)
                w.key("floodBurst")
                w.integer(limits.floodBurst)
                w.key("floodRate")
                w.double(limits.floodRate)
                w.key("floodQueueLines")
                w.integer(limits.floodQueueLines)
                w.endObject()
            }
        case .nickRequired: break
        case .welcome(let nick, let room):
            w.key("nick")
            w.string(nick)
            w.key("room")
            w.string(room)
        case .message(let room, let from, let text), .action(let room, let from, let text):
            w.key("room")
            w.string(room)
            w.key("from")
            w.string(from)
            w.key("text")
            w.string(text)
        case .privateMessage(let from, let to, let text), .userNotice(let from, let to, let text):
            w.key("from")
            w.string(from)
            w.key("to")
            w.string(to)
            w.key("text")
            w.string(text)
        case .join(let room, let nick):
            w.key("room")
            w.string(room)
            w.key("nick")
            w.string(nick)
        case .part(let room, let nick, let reason):
            w.key("room")
            w.string(room)
            w.key("nick")
            w.string(nick)
            if let reason {
                w.key("reason")
                w.string(reason)
            }
        case .quit(let nick, let reason):
            w.key("nick")
            w.string(nick)
            w.key("reason")
            w.string(reason)
        case .nickChange(let old, let new):
            w.key("old")
            w.string(old)
            w.key("new")
            w.string(new)
        case .current(let room):
            w.key("room")
            w.string(room)
        case .notice(let text):
            w.key("text")
            w.string(text)
        case .announcement(let text, let room):
            w.key("text")
            w.string(text)
            if let room {
                w.key("room")
                w.string(room)
            }
        case .error(let code, let message):
            w.key("code")
            w.string(code.rawValue)
            w.key("message")
            w.string(message)
        case .who(let room, let members, let roles):
            w.key("room")
            w.string(room)
            w.key("members")
            strings(members, &w)
            if !roles.isEmpty {
                w.key("roles")
                w.beginObject()
                for nick in members {
                    guard let role = roles[nick] else { continue }
                    w.key(nick)
                    strings(role.names, &w)
                }
                w.endObject()
            }
        case .kick(let room, let nick, let by, let reason):
            w.key("room")
            w.string(room)
            w.key("nick")
            w.string(nick)
            w.key("by")
            w.string(by)
            if let reason {
                w.key("reason")
                w.string(reason)
            }
        case .modeChange(let room, let by, let changes):
            w.key("room")
            w.string(room)
            if let by {
                w.key("by")
                w.string(by)
            }
            w.key("changes")
            w.beginArray()
            for change in changes {
                w.beginObject()
                w.key("mode")
                w.string((change.adding ? "+" : "-") + String(change.letter))
                if let argument = change.argument {
                    w.key("arg")
                    w.string(argument)
                }
                w.endObject()
            }
            w.endArray()
        case .modes(let room, let modes, let key, let createdAt):
            w.key("room")
            w.string(room)
            w.key("modes")
            w.string(modes.description)
            if let key {
                w.key("key")
                w.string(key)
            }
            w.key("createdAt")
            w.string(createdAt.iso8601)
        case .invite(let room, let from, let to):
            w.key("room")
            w.string(room)
            w.key("from")
            w.string(from)
            w.key("to")
            w.string(to)
        case .history(let room, let lines):
            w.key("room")
            w.string(room)
            w.key("lines")
            w.beginArray()
            for line in lines {
                w.beginObject()
                w.key("id")
                w.integer(line.id)
                w.key("ts")
                w.string(line.time.iso8601)
                w.key("from")
                w.string(line.from)
                w.key("text")
                w.string(line.text)
                w.key("action")
                w.bool(line.isAction)
                w.endObject()
            }
            w.endArray()
        case .whois(let whois):
            w.key("nick")
            w.string(whois.nick)
            w.key("rooms")
            strings(whois.rooms, &w)
            w.key("connectedAt")
            w.string(whois.connectedAt.iso8601)
            w.key("idleSeconds")
            w.integer(whois.idleSeconds)
            w.key("client")
            w.string(whois.client)
            if let away = whois.away {
                w.key("away")
                w.string(away)
            }
            if let account = whois.account {
                w.key("account")
                w.string(account)
            }
        case .awaySet(let message):
            if let message {
                w.key("text")
                w.string(message)
            }
        case .away(let nick, let message):
            w.key("nick")
            w.string(nick)
            w.key("text")
            w.string(message)
        case .account(let name):
            if let name {
                w.key("name")
                w.string(name)
            }
        case .awayChanged(let nick, let message):
            w.key("nick")
            w.string(nick)
            if let message {
                w.key("text")
                w.string(message)
            }
        case .topic(let room, let topic, let changedBy):
            w.key("room")
            w.string(room)
            w.key("text")
            w.string(topic?.text ?? "")
            if let topic {
                w.key("setBy")
                w.string(topic.setBy)
                w.key("setAt")
                w.string(topic.setAt.iso8601)
            }
            if let changedBy {
                w.key("changedBy")
                w.string(changedBy)
            }
        case .rooms(let rooms):
            w.key("rooms")
            w.beginArray()
            for room in rooms {
                w.beginObject()
                w.key("name")
                w.string(room.name)
                w.key("members")
                w.integer(room.members)
                if let topic = room.topic {
                    w.key("topic")
                    w.string(topic)
                }
                w.endObject()
            }
            w.endArray()
        case .online(let nicks, let away):
            w.key("nicks")
            strings(nicks, &w)
            w.key("away")
            strings(away, &w)
        case .counts(let users, let rooms, let peak):
            w.key("users")
            w.integer(users)
            w.key("rooms")
            w.integer(rooms)
            w.key("peak")
            w.integer(peak)
        case .help(let lines):
            w.key("lines")
            strings(lines, &w)
        case .pong(let token):
            if let token {
                w.key("token")
                w.string(token)
            }
        case .bye(let reason, let code):
            w.key("reason")
            w.string(reason)
            if let code {
                w.key("code")
                w.string(code.rawValue)
            }
        case .reply(let command, let arguments):
            w.key("command")
            w.string(command)
            w.key("arguments")
            strings(arguments, &w)
        }
        if let account = event.account {
            w.key("account")
            w.string(account)
        }
        if let re = event.re {
            w.key("re")
            w.requestID(re)
        }
        w.endObject()
        var bytes = w.bytes
        bytes.append(UInt8(ascii: "\n"))
        return bytes
    }

    private static func strings(_ values: [String], _ w: inout JSONWriter) {
        w.beginArray()
        for value in values { w.string(value) }
        w.endArray()
    }

    /// The `type` member of each event.
    public static func typeName(_ kind: Event.Kind) -> String {
        switch kind {
        case .hello: "hello"
        case .nickRequired: "nick_required"
        case .welcome: "welcome"
        case .message: "message"
        case .action: "action"
        case .privateMessage: "private"
        case .userNotice: "user_notice"
        case .join: "join"
        case .part: "part"
        case .quit: "quit"
        case .nickChange: "nick"
        case .current: "current"
        case .notice: "notice"
        case .announcement: "announcement"
        case .error: "error"
        case .who: "who"
        case .kick: "kick"
        case .modeChange: "mode"
        case .modes: "modes"
        case .invite: "invite"
        case .whois: "whois"
        case .awaySet: "away_set"
        case .away: "away"
        case .awayChanged: "away_changed"
        case .account: "account"
        case .history: "history"
        case .topic: "topic"
        case .rooms: "rooms"
        case .online: "online"
        case .counts: "counts"
        case .help: "help"
        case .pong: "pong"
        case .bye: "bye"
        case .reply: "reply"
        }
    }
}
