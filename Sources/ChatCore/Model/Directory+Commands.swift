extension Directory {
    /// Carries out a registered client's command: the one place a `Command` meets the
    /// directory. Commands a connection answers by itself (`/help`, `/ping`, `/quit`) produce
    /// nothing here.
    public mutating func perform(_ command: Command, by id: SessionID, at now: Timestamp, re: RequestID? = nil) -> [Delivery] {
        switch command {
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
        case .join(let room):
            join(id, room: room, at: now, re: re)
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
        case .help, .ping, .quit:
            []
        }
    }

    /// `/whois NICK`: the client's rooms, connected-since, idle time and kind, to the asker.
    public mutating func whois(_ id: SessionID, nick rawNick: String, at now: Timestamp, re: RequestID? = nil) -> [Delivery] {
        guard clients[id] != nil else { return [] }
        guard case .success(let nick) = Nickname.validate(rawNick, maxLength: 1000), let targetID = holder(of: nick),
            let target = clients[targetID]
        else {
            return [refusal(.noSuchNick, "There is nobody called \(Sanitizer.cleanArgument(rawNick)) here.", id, now, re)]
        }
        let whois = Whois(
            nick: target.nick.display, rooms: target.rooms.map(\.display), connectedAt: target.connectedAt,
            idleSeconds: target.idleSeconds(at: now), client: target.kind.description, away: target.away)
        return [.event(event(.whois(whois), at: now, re: re), to: .session(id))]
    }

    /// `/topic`: shows a room's topic (any room, `text` nil), or sets or clears it (`text`
    /// empty) in a room the client is in, telling the whole room. Anyone in the room may change
    /// it for now (room operators come with accounts).
    public mutating func topic(_ id: SessionID, room rawRoom: String?, text: String?, at now: Timestamp, re: RequestID? = nil) -> [Delivery]
    {
        guard let client = clients[id] else { return [] }
        guard let text else {
            let name: RoomName
            if let rawRoom {
                switch RoomName.validate(rawRoom, maxLength: limits.maxRoomNameLength) {
                case .success(let r):
                    // A room that is gone may keep its topic; one that never was has none to show.
                    guard rooms[r.key] != nil || topics[r.key] != nil else {
                        return [refusal(.noSuchRoom, "There is no room \(r.display).", id, now, re)]
                    }
                    name = rooms[r.key]?.name ?? r
                case .failure(let e): return [refusal(.roomInvalid, e.description, id, now, re)]
                }
            } else if let current = client.currentRoom {
                name = current
            } else {
                return [refusal(.noRoom, "You are not in any room: name one, as in /topic #lobby.", id, now, re)]
            }
            return [.event(event(.topic(room: name.display, topic: topics[name.key], changedBy: nil), at: now, re: re), to: .session(id))]
        }
        let room: RoomName
        switch resolve(rawRoom, for: client) {
        case .success(let r): room = r
        case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
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
