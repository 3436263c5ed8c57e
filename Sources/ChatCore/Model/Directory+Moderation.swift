extension Directory {
    /// `/kick`: an operator of a room takes `rawNick` out of it, telling the whole room (the
    /// kicked member too) why. The kicked member may join again unless the room keeps it out
    /// (`+i`, `+k`).
    public mutating func kick(
        _ id: SessionID, room rawRoom: String?, nick rawNick: String, reason: String?, at now: Timestamp, re: RequestID? = nil
    ) -> [Delivery] {
        let target: (room: RoomName, id: SessionID, client: Client)
        switch operated(id, rawRoom, member: rawNick) {
        case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
        case .success(let found): target = found
        }
        guard let kicker = clients[id] else { return [] }
        let reason = reason.flatMap { $0.isEmpty ? nil : $0 }
        let kick = event(
            .kick(room: target.room.display, nick: target.client.nick.display, by: kicker.nick.display, reason: reason), at: now, re: re)
        // Told to the whole room whatever its size: a moderator's act is for everyone to see.
        var out: [Delivery] = [.event(kick, to: roomAudience(target.room.key))]
        leave(target.id, target.room, at: now, into: &out)
        return out
    }

    /// `/invite`: lets `rawNick` join a room past `+i` and `+k`, and tells it so. Any member may
    /// invite to an open room; only an operator to an invite-only one.
    public mutating func invite(
        _ id: SessionID, nick rawNick: String, room rawRoom: String?, at now: Timestamp, re: RequestID? = nil
    )
        -> [Delivery]
    {
        guard let client = clients[id] else { return [] }
        let room: RoomName
        switch resolve(rawRoom, for: client) {
        case .success(let r): room = r
        case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
        }
        guard var entry = rooms[room.key] else { return [] }
        if entry.modes.contains(.inviteOnly), !entry.role(of: id).contains(.op) {
            return [refusal(.opNeeded, "\(room.display) is invite-only: only its operators may invite.", id, now, re)]
        }
        let (targetID, target): (SessionID, Client)
        switch someone(rawNick) {
        case .success(let found): (targetID, target) = found
        case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
        }
        if entry.members.contains(targetID) {
            return [refusal(.alreadyInRoom, "\(target.nick.display) is already in \(room.display).", id, now, re)]
        }
        if !entry.invited.contains(targetID) {
            if entry.invited.count >= Room.maxInvited { entry.invited.removeFirst() }
            entry.invited.append(targetID)
            rooms[room.key] = entry
        }
        let invitation = event(.invite(room: room.display, from: client.nick.display, to: target.nick.display), at: now, re: re)
        var recipientCopy = invitation
        recipientCopy.re = nil
        return [.event(recipientCopy, to: .session(targetID)), .event(invitation, to: .echo(id))]
    }

    /// `/mode`: shows a room's modes (`modes` nil), or changes them and its members' roles (an
    /// operator's), telling the room what changed. The changes are carried out in order; the
    /// first that cannot be (an unknown letter, a missing argument, a nick not in the room)
    /// stops them with its refusal, after the room is told of those before it.
    public mutating func mode(
        _ id: SessionID, room rawRoom: String?, modes: String?, arguments: [String], at now: Timestamp, re: RequestID? = nil
    ) -> [Delivery] {
        guard let client = clients[id] else { return [] }
        guard let modes else {
            let name: RoomName
            switch shown(rawRoom, for: client, asIn: "/mode") {
            case .success(let r): name = r
            case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
            }
            guard let room = rooms[name.key] else { return [refusal(.noSuchRoom, "There is no room \(name.display).", id, now, re)] }
            // The key is told to members only.
            let key = room.members.contains(id) ? room.key : room.key.map { _ in "*" }
            return [
                .event(
                    event(.modes(room: room.name.display, modes: room.modes, key: key, createdAt: room.createdAt), at: now, re: re),
                    to: .session(id))
            ]
        }
        let room: RoomName
        switch resolve(rawRoom, for: client) {
        case .success(let r): room = r
        case .failure(let failure): return [refusal(failure.code, failure.message, id, now, re)]
        }
        guard let entry = rooms[room.key] else { return [] }
        guard entry.role(of: id).contains(.op) else {
            return [refusal(.opNeeded, "Only the operators of \(room.display) may change its modes.", id, now, re)]
        }
        let (applied, problem) = change(room, modes, arguments)
        var out: [Delivery] = []
        if !applied.isEmpty {
            let change = event(.modeChange(room: room.display, by: client.nick.display, changes: applied), at: now, re: re)
            out.append(.event(change, to: roomAudience(room.key)))
        }
        if let problem { out.append(refusal(problem.code, problem.message, id, now, re)) }
        if out.isEmpty {
            out.append(.event(event(.notice(text: "That changes nothing in \(room.display)."), at: now, re: re), to: .session(id)))
        }
        return out
    }

    /// A server operator's `/mode` (`chatctl mode`): any room, without being in it; the room is
    /// told the server's operator made the changes (none when nothing changed).
    public mutating func operatorMode(
        room rawRoom: String, modes: String, arguments: [String], at now: Timestamp
    ) -> Result<
        [Delivery], AdminFailure
    > {
        guard case .success(let name) = RoomName.validate(rawRoom, maxLength: limits.maxRoomNameLength), let room = rooms[name.key]?.name
        else {
            return .failure(AdminFailure(.noSuchRoom, "There is no room \(Sanitizer.cleanArgument(rawRoom))."))
        }
        let (applied, problem) = change(room, modes, arguments)
        if let problem, applied.isEmpty {
            return .failure(AdminFailure(problem.code == .noSuchNick ? .noSuchNick : .badRequest, problem.message))
        }
        guard !applied.isEmpty else { return .success([]) }
        return .success([.event(event(.modeChange(room: room.display, by: nil, changes: applied), at: now), to: roomAudience(room.key))])
    }

    /// Carries out `modes` (with `arguments`) in `room`, in order, up to the first change that
    /// cannot be made; returns those made (each naming the member as it is called) and why it
    /// stopped, if it did.
    private mutating func change(_ room: RoomName, _ modes: String, _ arguments: [String]) -> ([RoomModeChange], Failure?) {
        guard var entry = rooms[room.key] else { return ([], nil) }
        defer { rooms[room.key] = entry }
        let parsed = RoomModeChange.parse(modes, arguments)
        var applied: [RoomModeChange] = []
        for change in parsed.changes {
            if applied.count(where: { $0.argument != nil }) == RoomModeChange.maxWithArgument, change.argument != nil {
                break  // the rest is dropped, as IRC servers drop modes beyond `MODES`
            }
            if let role = RoomRole(letter: change.letter), let nick = change.argument {
                let (memberID, member): (SessionID, Client)
                switch self.member(nick, of: entry) {
                case .success(let found): (memberID, member) = found
                case .failure(let failure): return (applied, failure)
                }
                let had = entry.role(of: memberID)
                let updated = change.adding ? had.union(role) : had.subtracting(role)
                guard updated != had else { continue }
                entry.roles[memberID] = updated.isEmpty ? nil : updated
                applied.append(RoomModeChange(adding: change.adding, letter: change.letter, argument: member.nick.display))
            } else if change.letter == "k" {
                if change.adding {
                    let key = String(Sanitizer.cleanArgument(change.argument ?? "").prefix(Self.maxKeyLength))
                    guard !key.isEmpty, key != entry.key else { continue }
                    entry.key = key
                    applied.append(RoomModeChange(adding: true, letter: "k", argument: key))
                } else {
                    guard entry.key != nil else { continue }
                    entry.key = nil
                    applied.append(RoomModeChange(adding: false, letter: "k"))
                }
            } else if let flag = RoomModes(letter: change.letter) {
                if flag == .noOutsideMessages && !change.adding {
                    return (applied, Failure(code: .unknownMode, message: "Rooms never take messages from outside: n cannot be unset."))
                }
                guard entry.modes.contains(flag) != change.adding else { continue }
                if change.adding { entry.modes.insert(flag) } else { entry.modes.remove(flag) }
                applied.append(change)
            }
        }
        if let letter = parsed.unknown {
            return (applied, Failure(code: .unknownMode, message: "\(Sanitizer.cleanArgument(String(letter))) is not a mode chatd knows."))
        }
        if let letter = parsed.missing {
            let what = letter == "k" ? "KEY" : "NICK"
            return (applied, Failure(code: .usage, message: "Mode \(letter) needs an argument: /mode \(room.display) +\(letter) \(what)."))
        }
        return (applied, nil)
    }

    /// The longest room key, in characters.
    public static let maxKeyLength = 32

    /// A room the client is in (its current one when `rawRoom` is nil), where it is an operator,
    /// and the member called `rawNick` there; or why not.
    private func operated(
        _ id: SessionID, _ rawRoom: String?, member rawNick: String
    ) -> Result<
        (room: RoomName, id: SessionID, client: Client), Failure
    > {
        guard let client = clients[id] else { return .failure(Failure(code: .noRoom, message: "Not registered.")) }
        return resolve(rawRoom, for: client).flatMap { room in
            guard let entry = rooms[room.key], entry.role(of: id).contains(.op) else {
                return .failure(Failure(code: .opNeeded, message: "You are not an operator of \(room.display)."))
            }
            return member(rawNick, of: entry).map { (room, $0.id, $0.client) }
        }
    }
}
