import ChatCore

/// The client's side of a chatd session, in the JSON mode: registration, rooms, members,
/// pacing, and what to show. Pure: the executable feeds it the server's lines and the user's,
/// and carries out the effects it returns (send these bytes, show this line, ask for a nick).
///
/// It survives reconnections: after a drop it remembers the nick, the rooms and the current
/// room, and the next connection registers and rejoins them.
public struct ClientSession: Sendable {
    public enum Effect: Equatable, Sendable {
        /// Bytes to write to the server (one JSON line, newline included).
        case send([UInt8])
        case show(Display)
        /// The server wants a nickname (or refused one): ask the user.
        case askNick
        /// The prompt (nick, current room) changed.
        case promptChanged
        /// The session cannot go on without the user, who is not there (a refused nickname when
        /// stdin is not a terminal). The client exits with this message.
        case fail(String)
    }

    public enum Phase: Equatable, Sendable {
        case disconnected
        /// Connected, hello sent, not registered yet.
        case registering
        /// Waiting for the user to type a nickname.
        case choosingNick
        case registered
        /// `quit` was sent: waiting for the server to close.
        case quitting
    }

    public private(set) var phase = Phase.disconnected
    /// The nick the server knows us by, once registered.
    public private(set) var nick: String?
    public private(set) var currentRoom: String?
    /// The rooms we are in, in the order we joined them.
    public private(set) var rooms: [String] = []
    /// Members of each room we are in, by lower-cased room name.
    public private(set) var members: [String: [String]] = [:]
    /// Every room name we have heard of (for Tab completion).
    public private(set) var knownRooms: Set<String> = []
    /// The last thing the server said before closing (a `bye` reason or a refusal line).
    public private(set) var lastWords: String?
    /// Why, for programs (the `bye`'s code), when the server said.
    public private(set) var lastCode: ByeCode?
    /// The server's message of the day was shown (once: not again on each reconnection).
    private var shownMOTD = false
    /// The newest event id of each room's lines shown (by lower-cased room): after a drop, the
    /// lines after it are what was missed.
    public private(set) var lastSeen: [String: UInt64] = [:]
    /// Rooms rejoined after a drop whose missed lines are still to be shown, and how far along.
    private var catchingUp: [String: CatchUp] = [:]

    /// A rejoined room's catch-up: the scrollback the server replayed on the join, and (when
    /// it may not reach back to `after`) the request for the gap before it, with the room's
    /// live lines held back until it is answered, so that everything shows once, in order.
    private struct CatchUp {
        var after: UInt64
        var scrollback: [HistoryRecord] = []
        var gapRequest: RequestID?
        var held: [Event] = []
    }

    private let interactive: Bool
    private var wantedNick: String?
    private var wantedRooms: [String]
    private var restoreCurrent: String?
    private var triedAlternateNick = false
    private var jsonMode = false
    private var nextID = 1
    /// The last join asked for and not answered yet. Lines typed meanwhile are meant for the
    /// room being joined, so they wait in `held` until the answer says which room is current.
    private var joining: RequestID?
    private var held: [Command] = []
    private var outstanding: Set<RequestID> = []
    private var queue: [JSONRequest] = []
    /// Requests in flight at most. The server answers every request with an `id`, and holds lines
    /// beyond its flood burst, up to `floodQueueLines`; when its bucket is empty, every request in
    /// flight may be held, so a window no larger than that can never trip "Excess flood". The
    /// server announces its limits in `hello`; this is the most used when they allow it.
    public static let defaultWindow = 8
    public private(set) var window = ClientSession.defaultWindow
    /// The longest line the server takes (announced in `hello`); a longer request would be
    /// dropped unanswered, so it is refused here with a reason.
    public private(set) var maxLineBytes: Int?

    /// `nick` to register with (nil: ask), `rooms` to join once registered; `interactive` says
    /// whether a user can be asked for another nickname.
    public init(nick: String?, rooms: [String], interactive: Bool) {
        wantedNick = nick
        wantedRooms = rooms
        self.interactive = interactive
    }

    /// How this client names itself in `hello` (an operator sees it in `chatctl who`).
    public static let clientName = "chat \(ChatdVersion.current)"

    /// True when a line the user types can be sent now.
    public var isReady: Bool { phase == .registered || phase == .choosingNick }

    /// True when another request fits in the window (the non-interactive client reads its next
    /// input line only then, so a long script is paced, never cut off).
    public var hasRoom: Bool { phase == .registered && joining == nil && queue.isEmpty && outstanding.count < window }

    /// The prompt for the input line.
    public var prompt: String {
        switch phase {
        case .choosingNick: "nick: "
        case .registered, .quitting: currentRoom.map { "[\($0)] " } ?? "[\(nick ?? "")] "
        case .disconnected, .registering: "(not connected) "
        }
    }

    // MARK: Connection life

    /// A connection is up: say hello, registering at once when the nick is known.
    public mutating func connected() -> [Effect] {
        phase = .registering
        jsonMode = false
        lastWords = nil
        lastCode = nil
        outstanding = []
        queue = []
        joining = nil
        triedAlternateNick = false
        return request(.hello(nick: wantedNick, client: Self.clientName))
    }

    /// The connection is gone (`reason` says how, when the socket knows). Returns whether
    /// reconnecting makes sense: not after our own quit, nor after a ban.
    public mutating func disconnected(reason: String? = nil) -> (effects: [Effect], reconnect: Bool) {
        let wasQuitting = phase == .quitting
        // Kicked or banned: coming straight back would undo the operator's decision. (A refusal
        // at connect has no code, only its words.)
        let sentAway = lastCode.map { !$0.mayReconnect && $0 != .quit } ?? (lastWords?.lowercased().contains("banned") ?? false)
        if phase == .registered, !rooms.isEmpty {
            // Rejoin where we were: the current room last, so it is current again.
            wantedRooms = rooms.filter { $0 != currentRoom } + (currentRoom.map { [$0] } ?? [])
            restoreCurrent = currentRoom
        }
        // Each room we were in and saw lines of catches up once rejoined (a room still catching
        // up from an earlier drop starts over).
        for key in catchingUp.keys { catchingUp[key] = CatchUp(after: catchingUp[key]!.after) }
        for room in rooms {
            if let seen = lastSeen[room.lowercased()] { catchingUp[room.lowercased()] = CatchUp(after: seen) }
        }
        if let nick { wantedNick = nick }
        phase = .disconnected
        nick = nil
        rooms = []
        members = [:]
        outstanding = []
        queue = []
        joining = nil
        held = []
        var effects: [Effect] = [.promptChanged]
        if !wasQuitting {
            let why = lastWords ?? reason ?? "the server closed the connection"
            effects.append(.show(Display(.client("Disconnected: " + (why.hasSuffix(".") ? why : why + ".")))))
            if sentAway {
                let what = lastCode == .kicked ? "a kick" : "a ban"
                effects.append(.show(Display(.client("Not reconnecting after \(what); run chat again to come back."))))
            }
        }
        return (effects, !wasQuitting && !sentAway)
    }

    // MARK: The user's lines

    /// A line the user typed (interactive) or piped in.
    public mutating func typed(_ line: String) -> [Effect] {
        let line = Sanitizer.clean(line)
        switch phase {
        case .choosingNick:
            let nick = Sanitizer.trimmed(Substring(line))
            guard !nick.isEmpty else { return [.askNick] }
            wantedNick = nick
            phase = .registering
            return [.promptChanged] + request(.command(.nick(nick)))
        case .registered:
            break
        case .disconnected, .registering, .quitting:
            return [.show(Display(.client("Not connected: the line was not sent.")))]
        }
        switch Command.parse(line: line) {
        case nil:
            return []
        case .failure(let error):
            return [.show(Display(.error("*** Error: \(error)")))]
        case .success(.quit(let reason)):
            return quit(reason: reason)
        case .success(let command) where joining != nil && command.isForCurrentRoom:
            held.append(command)
            return []
        case .success(.say(let text, nil)):
            return request(.command(.say(text: text, room: currentRoom)))
        case .success(.action(let text, nil)):
            return request(.command(.action(text: text, room: currentRoom)))
        case .success(.join(let room, let key)):
            return join(room, key: key)
        case .success(let command):
            return request(.command(command))
        }
    }

    /// Asks to join `room`; lines typed until the answer wait for it (see `joining`).
    private mutating func join(_ room: String, key: String? = nil) -> [Effect] {
        joining = nextRequestID
        return request(.command(.join(room, key: key)))
    }

    /// The pending join was answered (joined, made current, or refused): the lines typed
    /// meanwhile go to the room that is current now.
    private mutating func joinAnswered() -> [Effect] {
        joining = nil
        let lines = held
        held = []
        var effects: [Effect] = []
        for command in lines {
            switch command {
            case .say(let text, _): effects += request(.command(.say(text: text, room: currentRoom)))
            case .action(let text, _): effects += request(.command(.action(text: text, room: currentRoom)))
            default: effects += request(.command(command))
            }
        }
        return effects
    }

    /// Leaves: sends `quit` after everything already queued.
    public mutating func quit(reason: String? = nil) -> [Effect] {
        guard phase == .registered || phase == .registering || phase == .choosingNick else { return [] }
        let effects = request(.command(.quit(reason: reason)), force: true)
        phase = .quitting
        return effects
    }

    /// A keepalive: the server answers with a `pong`.
    public mutating func ping() -> [Effect] {
        guard phase != .disconnected else { return [] }
        return [.send(JSONRequest(.command(.ping(token: "keepalive"))).encoded + [UInt8(ascii: "\n")])]
    }

    /// Nicks and rooms for Tab completion, and the command names.
    public func completions(for word: String, atLineStart: Bool) -> [String] {
        let nicks = currentRoom.flatMap { members[$0.lowercased()] } ?? []
        let everyone = nicks + members.values.flatMap { $0 }.filter { !nicks.contains($0) }
        let commands = Command.table.map(\.name)
        return Completion.candidates(
            for: word, atLineStart: atLineStart, commands: commands, rooms: rooms + knownRooms.sorted(),
            nicks: everyone.filter { $0 != nick })
    }

    // MARK: Requests and pacing

    /// The id the next request will carry.
    private var nextRequestID: RequestID { .string("c\(nextID)") }

    private mutating func request(_ kind: JSONRequest.Kind, force: Bool = false) -> [Effect] {
        let id = nextRequestID
        nextID += 1
        let request = JSONRequest(kind, correlation: id)
        if let maxLineBytes, request.encoded.count + 1 > maxLineBytes {
            return [.show(Display(.error("*** Error: That line is too long to send: the server takes at most \(maxLineBytes) bytes.")))]
        }
        if force || (queue.isEmpty && outstanding.count < window) {
            outstanding.insert(id)
            return [.send(request.encoded + [UInt8(ascii: "\n")])]
        }
        queue.append(request)
        return []
    }

    private mutating func answered(_ re: RequestID) -> [Effect] {
        guard outstanding.remove(re) != nil else { return [] }
        var effects: [Effect] = []
        while !queue.isEmpty && outstanding.count < window {
            let next = queue.removeFirst()
            outstanding.insert(next.correlation!)
            effects.append(.send(next.encoded + [UInt8(ascii: "\n")]))
        }
        return effects
    }

    // MARK: The server's lines

    /// One line from the server (without its line ending).
    public mutating func received(_ line: [UInt8]) -> [Effect] {
        guard line.first == UInt8(ascii: "{") else {
            // Text before JSON mode: the greeting, or a refusal at connect ("server full").
            var text = Sanitizer.clean(line)
            if text.hasPrefix("*** ") { text.removeFirst(4) }
            if text.isEmpty || jsonMode || text.hasPrefix("Please choose") || text.hasPrefix("Welcome to") { return [] }
            lastWords = text
            return [.show(Display(.notice("*** " + text)))]
        }
        jsonMode = true
        let event: Event
        switch JSONFormat.parse(line) {
        case .success(let parsed): event = parsed
        case .failure(let error):
            return [.show(Display(.client("The server sent a line this client cannot read (\(error)).")))]
        }
        var effects = event.re.map { answered($0) } ?? []
        if let caught = catchUp(event) { return effects + caught }
        effects += handle(event)
        if let re = event.re, re == joining { effects += joinAnswered() }
        return effects
    }

    private mutating func handle(_ event: Event) -> [Effect] {
        let time = event.time
        func show(_ kind: Display.Kind) -> Effect { .show(Display(time: time, kind)) }
        func status() -> [Effect] {
            TextFormat.render(event, inCurrentRoom: true).split(separator: "\r\n").map { show(.status(String($0))) }
        }
        func elsewhere(_ room: String) -> String? { room.lowercased() == currentRoom?.lowercased() ? nil : room }
        func mentions(_ text: String, from: String) -> Bool {
            guard let nick, from != nick else { return false }
            return text.lowercased().contains(nick.lowercased())
        }
        switch event.kind {
        case .hello(_, let version, let motd, let limits):
            if let limits {
                window = max(1, min(Self.defaultWindow, limits.floodQueueLines))
                maxLineBytes = limits.maxLineBytes
            }
            defer { shownMOTD = true }
            return [show(.client("Connected to chatd \(version)."))] + (shownMOTD ? [] : motd.map { show(.notice("*** " + $0)) })
        case .nickRequired:
            guard wantedNick == nil else { return [] }
            return askNick(nil)
        case .welcome(let nick, let room):
            self.nick = nick
            wantedNick = nick
            currentRoom = room
            phase = .registered
            var effects: [Effect] = [.promptChanged] + status()
            let joins = wantedRooms.filter { $0.lowercased() != room.lowercased() }
            for room in joins { effects += join(room) }
            if let restore = restoreCurrent, restore.lowercased() != (joins.last ?? room).lowercased() {
                effects += join(restore)
            }
            restoreCurrent = nil
            return effects
        case .error(let code, let message):
            if code.isNickRefusal, phase != .registered {
                if code == .nickInUse, !triedAlternateNick, let wanted = wantedNick, nick == nil, rooms.isEmpty,
                    restoreCurrent != nil || !wantedRooms.isEmpty
                {
                    // Reconnecting while the server still holds our old connection: try nick_.
                    triedAlternateNick = true
                    wantedNick = wanted + "_"
                    return [show(.error("*** Error: \(message) Trying \(wanted)_."))] + request(.command(.nick(wanted + "_")))
                }
                return askNick(message)
            }
            return [show(.error("*** Error: \(message)"))]
        case .message(let room, let from, let text):
            seen(room, event.id)
            return [show(.message(room: elsewhere(room), from: from, text: text, own: from == nick, mentioned: mentions(text, from: from)))]
        case .action(let room, let from, let text):
            seen(room, event.id)
            return [show(.action(room: elsewhere(room), from: from, text: text, own: from == nick, mentioned: mentions(text, from: from)))]
        case .privateMessage(let from, let to, let text):
            if event.re != nil { return [show(.ownPrivateMessage(to: to, text: text))] }
            return [show(.privateMessage(from: from, text: text))]
        case .userNotice(let from, let to, let text):
            let place = to.hasPrefix("#") ? elsewhere(to).map { "[\($0)] " } ?? "" : ""
            if event.re != nil && from == nick { return [show(.notice("-> -\(to)- \(text)"))] }
            return [show(.notice(place + "-\(from)- \(text)"))]
        case .join(let room, let who):
            var effects: [Effect] = []
            if who == nick {
                // Joining a room makes it the current one.
                if !rooms.contains(room) { rooms.append(room) }
                knownRooms.insert(room)
                currentRoom = room
                effects.append(.promptChanged)
            }
            if !(members[room.lowercased()]?.contains(who) ?? false) { members[room.lowercased(), default: []].append(who) }
            return effects + status()
        case .part(let room, let who, _), .kick(let room, let who, _, _):
            var effects: [Effect] = []
            if case .kick = event.kind {
                // Shown, and not undone: a room one was kicked from is not joined again by
                // itself (it is no longer among the rooms a reconnection rejoins).
                effects = TextFormat.render(event).split(separator: "\r\n").map {
                    show(who == nick ? .error(String($0)) : .status(String($0)))
                }
            }
            if who == nick {
                rooms.removeAll { $0 == room }
                members[room.lowercased()] = nil
                lastSeen[room.lowercased()] = nil
                // The server says which room is current next; after the last, none is.
                if currentRoom?.lowercased() == room.lowercased() {
                    currentRoom = nil
                    return effects + [.promptChanged] + (effects.isEmpty ? status() : [])
                }
            } else {
                members[room.lowercased()]?.removeAll { $0 == who }
            }
            return effects.isEmpty ? status() : effects
        case .quit(let who, _):
            for key in members.keys { members[key]?.removeAll { $0 == who } }
            return status()
        case .nickChange(let old, let new):
            for key in members.keys { members[key] = members[key]?.map { $0 == old ? new : $0 } }
            var effects = status()
            if old == nick {
                nick = new
                wantedNick = new
                effects.append(.promptChanged)
            }
            return effects
        case .current(let room):
            currentRoom = room
            return [.promptChanged] + status()
        case .who(let room, let list, _):
            if rooms.contains(where: { $0.lowercased() == room.lowercased() }) { members[room.lowercased()] = list }
            return status()
        case .rooms(let list):
            knownRooms.formUnion(list.map(\.name))
            return status()
        case .whois, .topic, .awaySet, .away, .awayChanged, .modeChange, .modes, .online, .counts, .account:
            return status()
        case .invite(let room, let from, let to):
            if event.re != nil && from == nick { return [show(.status("*** You invited \(to) to \(room)."))] }
            return status()
        case .history(let room, let lines):
            return block("*** Scrollback of \(room)", room: room, lines: lines, at: time)
        case .notice(let text):
            return [show(.notice("*** " + text))]
        case .announcement:
            return TextFormat.render(event).split(separator: "\r\n").map { show(.announcement(String($0))) }
        case .bye(let reason, let code):
            // Said once, when the connection closes ("Disconnected: reason.").
            lastWords = reason
            lastCode = code
            return []
        case .reply:
            return []
        case .help, .pong:
            if case .pong(token: "keepalive") = event.kind { return [] }
            return status()
        }
    }

    /// Kept lines, each at its own time, between a header and a footer, so they are never taken
    /// for live traffic.
    private mutating func block(_ title: String, room: String, lines: [HistoryRecord], at time: Timestamp, more: Bool = false) -> [Effect] {
        let elsewhere = room.lowercased() == currentRoom?.lowercased() ? nil : room
        var effects = [Effect.show(Display(time: time, .status("\(title) (\(lines.count) \(lines.count == 1 ? "line" : "lines")):")))]
        if more {
            effects.append(.show(Display(time: time, .status("*** (more was said before these: /history \(room) 1000 shows it)"))))
        }
        for line in lines {
            let own = line.from == nick
            let kind: Display.Kind =
                line.isAction
                ? .action(room: elsewhere, from: line.from, text: line.text, own: own, mentioned: false)
                : .message(room: elsewhere, from: line.from, text: line.text, own: own, mentioned: false)
            effects.append(.show(Display(time: line.time, kind)))
            seen(room, line.id)
        }
        return effects + [
            .show(Display(time: time, .status(title.hasPrefix("*** Missed") ? "*** End of missed lines." : "*** End of scrollback.")))
        ]
    }

    private mutating func seen(_ room: String, _ id: UInt64) {
        lastSeen[room.lowercased(), default: 0] = max(lastSeen[room.lowercased()] ?? 0, id)
    }

    /// After a reconnection: shows each rejoined room's missed lines exactly once. The
    /// scrollback replayed on the join covers them when its oldest line is one already seen;
    /// otherwise the gap between the last line seen and that scrollback is asked for (`after`
    /// and `before`), and the room's live lines wait for the answer. Nil: not a catch-up event.
    private mutating func catchUp(_ event: Event) -> [Effect]? {
        guard !catchingUp.isEmpty else { return nil }
        switch event.kind {
        case .history(let room, let lines):
            let key = room.lowercased()
            guard var state = catchingUp[key] else { return nil }
            if let request = state.gapRequest, event.re == request {
                return finishCatchUp(key, room: room, gap: lines, at: event.time)
            }
            guard state.gapRequest == nil else { return nil }
            state.scrollback = lines
            catchingUp[key] = state
            return []
        case .join(let room, let who) where who == nick:
            let key = room.lowercased()
            guard var state = catchingUp[key], state.gapRequest == nil else { return nil }
            var effects = handle(event)
            if let oldest = state.scrollback.first, oldest.id <= state.after {
                // The scrollback reaches back to what was seen: nothing else was missed.
                return effects + finishCatchUp(key, room: room, gap: [], at: event.time)
            }
            state.gapRequest = nextRequestID
            effects += request(
                .command(.history(room: room, before: state.scrollback.first?.id, after: state.after, limit: Command.maxHistoryLines)))
            catchingUp[key] = state
            return effects
        case .message(let room, _, _), .action(let room, _, _):
            guard catchingUp[room.lowercased()]?.gapRequest != nil else { return nil }
            catchingUp[room.lowercased()]?.held.append(event)
            return []
        case .error where event.re != nil:
            // The gap could not be read (history off, or failing): what is known is shown.
            guard let (key, state) = catchingUp.first(where: { $0.value.gapRequest == event.re }) else { return nil }
            return handle(event) + finishCatchUp(key, room: state.scrollback.first?.room ?? key, gap: [], at: event.time)
        default:
            return nil
        }
    }

    /// Ends a room's catch-up: the missed lines (the gap read, then the scrollback), each
    /// once, then the live lines held meanwhile that are newer.
    private mutating func finishCatchUp(_ key: String, room: String, gap: [HistoryRecord], at time: Timestamp) -> [Effect] {
        guard let state = catchingUp.removeValue(forKey: key) else { return [] }
        let missed = (gap + state.scrollback).filter { $0.id > state.after }
        var effects: [Effect] = []
        if !missed.isEmpty {
            effects = block(
                "*** Missed in \(room) while disconnected", room: room, lines: missed, at: time, more: gap.count >= Command.maxHistoryLines)
        }
        for live in state.held where live.id > (lastSeen[key] ?? 0) { effects += handle(live) }
        return effects
    }

    private mutating func askNick(_ reason: String?) -> [Effect] {
        var effects: [Effect] = reason.map { [.show(Display(.error("*** Error: \($0)")))] } ?? []
        guard interactive else {
            return effects + [.fail("The server refused the nickname" + (reason.map { ": \($0)" } ?? "."))]
        }
        phase = .choosingNick
        effects += [.show(Display(.client("Please choose a nickname."))), .askNick, .promptChanged]
        return effects
    }
}
