extension Directory {
    /// Carries out a registered client's command: the one place a `Command` meets the
    /// directory. Commands a connection answers by itself (`/help`, `/ping`, `/quit`) produce
    /// nothing here.
    public mutating func perform(_ command: Command, by id: SessionID, at now: Timestamp, re: RequestID? = nil) -> [Delivery] {
        if accountsRequired, clients[id]?.account == nil {
            switch command {
            case .say, .action, .privateMessage, .notice:
                return [
                    refusal(.signInRequired, "Only those signed in may talk here: /register PASSWORD or /login NICK PASSWORD.", id, now, re)
                ]
            default: break
            }
        }
        return switch command {
        case .say(let text, let room):
            say(id, text: text, room: room, action: false, at: now, re: re)
        case .action(let text, let room):
            say(id, text: text, room: room, action: true, at: now, re: re)
        case .privateMessage(let to, let text):
            privateMessage(id, to: to, text: text, at: now, re: re)
        case .notice(let to, let text):
            notice(id, to: to, text: text, at: now, re: re)
        case .nick(let nick):
            changeNick(id, to: nick, at: now, re: re)
        case .join(let room, let key):
            join(id, room: room, key: key, at: now, re: re)
        case .part(let room, let reason):
            part(id, room: room, reason: reason, at: now, re: re)
        case .rooms:
            listRooms(id, at: now, re: re)
        case .who(let room):
            who(id, room: room, at: now, re: re)
        case .whois(let nick):
            whois(id, nick: nick, at: now, re: re)
        case .history(let room, let before, let after, let limit):
            history(id, room: room, before: before, after: after, limit: limit, at: now, re: re)
        case .topic(let room, let text):
            topic(id, room: room, text: text, at: now, re: re)
        case .away(let message):
            away(id, message: message, at: now, re: re)
        case .kick(let room, let nick, let reason):
            kick(id, room: room, nick: nick, reason: reason, at: now, re: re)
        case .invite(let nick, let room):
            invite(id, nick: nick, room: room, at: now, re: re)
        case .mode(let room, let modes, let arguments):
            mode(id, room: room, modes: modes, arguments: arguments, at: now, re: re)
        case .register(let password):
            registerAccount(id, password: password, at: now, re: re)
        case .login(let nick, let password):
            signIn(id, account: nick, password: password, at: now, re: re)
        case .changePassword(let old, let new):
            manageAccount(id, password: old, then: .changePassword(new), at: now, re: re)
        case .unregister(let password):
            manageAccount(id, password: password, then: .drop, at: now, re: re)
        case .online(let nicks):
            online(id, nicks: nicks, at: now, re: re)
        case .counts:
            [.event(event(.counts(users: clients.count, rooms: rooms.count, peak: peakClients), at: now, re: re), to: .session(id))]
        case .help, .ping, .quit:
            []
        }
    }

    /// Which of `nicks` (at most `Command.maxOnlineNicks`) are connected, as they are called, in
    /// the order asked, each once; and which of those are away.
    public mutating func online(_ id: SessionID, nicks: [String], at now: Timestamp, re: RequestID? = nil) -> [Delivery] {
        guard clients[id] != nil else { return [] }
        var found: [String] = []
        var away: [String] = []
        for raw in nicks.prefix(Command.maxOnlineNicks) {
            guard case .success(let nick) = Nickname.validate(raw, maxLength: 1000), let holder = holder(of: nick),
                let client = clients[holder], !found.contains(client.nick.display)
            else { continue }
            found.append(client.nick.display)
            if client.away != nil { away.append(client.nick.display) }
        }
        return [.event(event(.online(nicks: found, away: away), at: now, re: re), to: .session(id))]
    }

    /// `/whois NICK`: the client's rooms, connected-since, idle time and kind, to the asker.
    public mutating func whois(_ id: SessionID, nick rawNick: String, at now: Timestamp, re: RequestID? = nil) -> [Delivery] {
        guard clients[id] != nil else { return [] }
        let target: Client
        switch someone(rawNick) {
        case .success(let found): target = found.client
        case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
        }
        let whois = Whois(
            nick: target.nick.display, rooms: target.rooms.map(\.display), connectedAt: target.connectedAt,
            idleSeconds: target.idleSeconds(at: now), client: target.kind.description, away: target.away, account: target.account)
        return [.event(event(.whois(whois), at: now, re: re), to: .session(id))]
    }

    /// `/topic`: shows a room's topic (any room, `text` nil), or sets or clears it (`text`
    /// empty) in a room the client is in, telling the whole room. Any member may change it,
    /// unless the room's topic is locked (`+t`): then only its operators.
    public mutating func topic(_ id: SessionID, room rawRoom: String?, text: String?, at now: Timestamp, re: RequestID? = nil) -> [Delivery]
    {
        guard let client = clients[id] else { return [] }
        guard let text else {
            let name: RoomName
            switch shown(rawRoom, for: client, asIn: "/topic") {
            case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
            case .success(let r):
                // A room that is gone may keep its topic; one that never was has none to show.
                guard rooms[r.key] != nil || topics[r.key] != nil else {
                    return [refusal(.noSuchRoom, "There is no room \(r.display).", id, now, re)]
                }
                name = rooms[r.key]?.name ?? r
            }
            return [.event(event(.topic(room: name.display, topic: topics[name.key], changedBy: nil), at: now, re: re), to: .session(id))]
        }
        let room: RoomName
        switch resolve(rawRoom, for: client) {
        case .success(let r): room = r
        case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
        }
        if let entry = rooms[room.key], entry.modes.contains(.topicLocked), !entry.role(of: id).contains(.op) {
            return [refusal(.opNeeded, "Only the operators of \(room.display) may change its topic.", id, now, re)]
        }
        let wanted = Sanitizer.trimmed(Substring(text))
        if wanted.count > Command.maxTopicLength {
            return [
                refusal(
                    .topicTooLong, "A topic is at most \(Command.maxTopicLength) characters; that one has \(wanted.count).", id, now, re)
            ]
        }
        if wanted == (topics[room.key]?.text ?? "") {
            let same = wanted.isEmpty ? "\(room.display) has no topic already." : "That is the topic of \(room.display) already."
            return [.event(event(.notice(text: same), at: now, re: re), to: .session(id))]
        }
        let topic = wanted.isEmpty ? nil : RoomTopic(text: wanted, setBy: client.nick.display, setAt: now)
        topics[room.key] = topic
        return [
            .event(
                event(.topic(room: room.display, topic: topic, changedBy: client.nick.display), at: now, re: re), to: roomAudience(room.key)
            )
        ]
    }

    /// `/history`: a room the client is in (its current one by default) whose lines are to be
    /// read from the store.
    public mutating func history(
        _ id: SessionID, room rawRoom: String?, before: UInt64?, after: UInt64?, limit: Int?, at now: Timestamp, re: RequestID? = nil
    ) -> [Delivery] {
        guard let client = clients[id] else { return [] }
        switch resolve(rawRoom, for: client) {
        case .failure(let failure):
            return [refusal(failure.code, failure.message, id, now, re)]
        case .success(let room):
            let lines = max(1, min(limit ?? 50, Command.maxHistoryLines))
            return [
                .readHistory(
                    HistoryQuery(session: id, room: room.display, roomKey: room.key, before: before, after: after, limit: lines, re: re))
            ]
        }
    }

    /// The answer to a `HistoryQuery`: the lines read, or why there are none.
    public mutating func answer(_ query: HistoryQuery, lines: Result<[HistoryRecord], HistoryUnavailable>, at now: Timestamp) -> [Delivery]
    {
        guard clients[query.session] != nil else { return [] }
        switch lines {
        case .success(let lines):
            return [.event(event(.history(room: query.room, lines: lines), at: now, re: query.re), to: .session(query.session))]
        case .failure(let problem):
            return [refusal(.historyUnavailable, "History is not available: \(problem.reason).", query.session, now, query.re)]
        }
    }
}

/// Why history could not be read (it is off, or its store failed).
public struct HistoryUnavailable: Error, Equatable, Sendable {
    public var reason: String

    public init(_ reason: String) { self.reason = reason }
}
