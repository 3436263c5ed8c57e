import ChatClient
import ChatCore
import Testing

/// A server event as the daemon would send it.
private func line(_ kind: Event.Kind, re: RequestID? = nil, id: UInt64 = 1) -> [UInt8] {
    var bytes = JSONFormat.render(Event(id: id, time: Timestamp(milliseconds: 1_763_770_000_000), re: re, kind))
    bytes.removeLast()  // the newline
    return bytes
}

/// The requests among `effects`, parsed back as the server would.
private func requests(_ effects: [ClientSession.Effect]) -> [JSONRequest] {
    effects.compactMap {
        guard case .send(let bytes) = $0 else { return nil }
        #expect(bytes.last == UInt8(ascii: "\n"))
        return try? JSONRequest.parse(Array(bytes.dropLast())).get()
    }
}

private func shown(_ effects: [ClientSession.Effect]) -> [Display.Kind] {
    effects.compactMap {
        if case .show(let display) = $0 { return display.kind }
        return nil
    }
}

/// A session registered as alice in #lobby.
private func registered(rooms: [String] = [], interactive: Bool = true) -> ClientSession {
    var session = ClientSession(nick: "alice", rooms: rooms, interactive: interactive)
    _ = session.connected()
    _ = session.received(line(.welcome(nick: "alice", room: "#lobby"), re: "c1"))
    _ = session.received(line(.join(room: "#lobby", nick: "alice")))
    _ = session.received(line(.who(room: "#lobby", members: ["alice", "bob"])))
    return session
}

@Suite("client session")
struct ClientSessionTests {
    @Test("hello registers at once with a known nick, then joins the asked rooms")
    func registration() {
        var session = ClientSession(nick: "alice", rooms: ["#dev"], interactive: false)
        #expect(requests(session.connected()) == [JSONRequest(.hello(nick: "alice", client: ClientSession.clientName), correlation: "c1")])
        #expect(session.phase == .registering)
        let effects = session.received(line(.welcome(nick: "alice", room: "#lobby"), re: "c1"))
        #expect(session.phase == .registered && session.nick == "alice" && session.currentRoom == "#lobby")
        #expect(requests(effects).map(\.kind) == [.command(.join("#dev"))])
        _ = session.received(line(.join(room: "#dev", nick: "alice"), re: "c2"))
        #expect(session.currentRoom == "#dev", "joining a room makes it current")
        #expect(session.prompt == "[#dev] ")
    }

    @Test("without a nick the user is asked; a refused nick shows the reason and asks again")
    func nickFlow() {
        var session = ClientSession(nick: nil, rooms: [], interactive: true)
        #expect(requests(session.connected()).map(\.kind) == [.hello(nick: nil, client: ClientSession.clientName)])
        #expect(session.received(line(.nickRequired)).contains(.askNick))
        #expect(session.phase == .choosingNick && session.prompt == "nick: ")
        #expect(requests(session.typed("bob")).map(\.kind) == [.command(.nick("bob"))])
        let refused = session.received(line(.error(code: .nickInUse, message: "The nickname bob is already in use."), re: "c2"))
        #expect(refused.contains(.askNick))
        #expect(shown(refused).contains(.error("*** Error: The nickname bob is already in use.")))
        _ = session.typed("carol")
        _ = session.received(line(.welcome(nick: "carol", room: "#lobby"), re: "c3"))
        #expect(session.phase == .registered)
    }

    @Test("a refused nick without a terminal to ask on ends the session")
    func nickRefusedNonInteractive() {
        var session = ClientSession(nick: "server", rooms: [], interactive: false)
        _ = session.connected()
        let effects = session.received(line(.error(code: .nickReserved, message: "That nickname is reserved for the server."), re: "c1"))
        #expect(effects.contains(.fail("The server refused the nickname: That nickname is reserved for the server.")))
    }

    @Test("typed lines become requests; plain text goes to the current room")
    func typing() {
        var session = registered()
        #expect(requests(session.typed("hello")).map(\.kind) == [.command(.say(text: "hello", room: "#lobby"))])
        #expect(requests(session.typed("/me waves")).map(\.kind) == [.command(.action(text: "waves", room: "#lobby"))])
        #expect(requests(session.typed("/msg bob psst")).map(\.kind) == [.command(.privateMessage(to: "bob", text: "psst"))])
        #expect(requests(session.typed("//slash")).map(\.kind) == [.command(.say(text: "/slash", room: "#lobby"))])
        #expect(session.typed("   ").isEmpty)
        #expect(shown(session.typed("/frobnicate")).first.map { if case .error = $0 { true } else { false } } == true)
        #expect(requests(session.typed("/quit bye all")).map(\.kind) == [.command(.quit(reason: "bye all"))])
        #expect(session.phase == .quitting)
    }

    @Test("no more than the window of requests is in flight; answers release the rest in order")
    func pacing() {
        var session = registered()
        var sent: [JSONRequest] = []
        for n in 1...20 { sent += requests(session.typed("line \(n)")) }
        #expect(sent.count == ClientSession.defaultWindow)
        #expect(!session.hasRoom)
        // The server answers the first two: two more go out.
        let more =
            requests(session.received(line(.message(room: "#lobby", from: "alice", text: "line 1"), re: sent[0].correlation)))
            + requests(session.received(line(.message(room: "#lobby", from: "alice", text: "line 2"), re: sent[1].correlation)))
        #expect(more.map(\.kind) == [.command(.say(text: "line 9", room: "#lobby")), .command(.say(text: "line 10", room: "#lobby"))])
        // An event answering something we never asked releases nothing.
        #expect(requests(session.received(line(.pong(token: nil), re: "c999"))).isEmpty)
    }

    @Test("events are shown as the text protocol words them, with the room when it is not current")
    func showing() {
        var session = registered()
        _ = session.received(line(.join(room: "#dev", nick: "alice")))
        #expect(
            shown(session.received(line(.message(room: "#lobby", from: "bob", text: "hi alice"))))
                == [.message(room: "#lobby", from: "bob", text: "hi alice", own: false, mentioned: true)])
        #expect(
            shown(session.received(line(.action(room: "#dev", from: "alice", text: "waves"))))
                == [.action(room: nil, from: "alice", text: "waves", own: true, mentioned: false)])
        #expect(shown(session.received(line(.join(room: "#dev", nick: "bob")))) == [.status("*** bob has joined #dev")])
        #expect(
            shown(session.received(line(.privateMessage(from: "bob", to: "alice", text: "psst")))) == [
                .privateMessage(from: "bob", text: "psst")
            ])
        #expect(
            shown(session.received(line(.privateMessage(from: "alice", to: "bob", text: "hey"), re: "c9")))
                == [.ownPrivateMessage(to: "bob", text: "hey")])
        #expect(
            shown(session.received(line(.announcement(text: "restart at 5", room: nil)))) == [
                .announcement("*** Announcement: restart at 5")
            ])
    }

    @Test("members are tracked for completion through joins, parts, quits and nick changes")
    func members() {
        var session = registered()
        _ = session.received(line(.join(room: "#lobby", nick: "carol")))
        _ = session.received(line(.nickChange(old: "bob", new: "robert")))
        #expect(session.completions(for: "", atLineStart: true) == ["carol", "robert"])
        _ = session.received(line(.quit(nick: "carol", reason: "Quit")))
        #expect(session.completions(for: "r", atLineStart: false) == ["robert"])
        #expect(session.completions(for: "/jo", atLineStart: true) == ["/join"])
        #expect(session.completions(for: "#lo", atLineStart: false) == ["#lobby"])
    }

    @Test("a server line that is not valid JSON, or has bad members, is reported, never shown raw")
    func hostileServer() {
        var session = registered()
        let bad = shown(session.received(Array(#"{"type":"message","id":1}"#.utf8)))
        #expect(bad.count == 1)
        if case .client(let text)? = bad.first { #expect(text.contains("cannot read")) } else { Issue.record("expected a client line") }
        let escaped = session.received(
            Array(##"{"type":"message","id":2,"ts":"2026-11-22T01:00:00.000Z","room":"#lobby","from":"x","text":"\u001b[2Jboo"}"##.utf8))
        #expect(shown(escaped) == [.message(room: nil, from: "x", text: "boo", own: false, mentioned: false)])
    }

    @Test("after a drop the session registers again and rejoins its rooms, the current one last")
    func reconnect() {
        var session = registered()
        _ = session.received(line(.join(room: "#dev", nick: "alice")))
        _ = session.received(line(.join(room: "#ops", nick: "alice")))
        _ = session.typed("/join #dev")
        _ = session.received(line(.current(room: "#dev")))
        let (effects, again) = session.disconnected(reason: "Connection reset by peer")
        #expect(again)
        #expect(shown(effects) == [.client("Disconnected: Connection reset by peer.")])
        #expect(session.phase == .disconnected && !session.isReady)
        #expect(requests(session.connected()).map(\.kind) == [.hello(nick: "alice", client: ClientSession.clientName)])
        let rejoin = requests(session.received(line(.welcome(nick: "alice", room: "#lobby"), re: "c1")))
        #expect(rejoin.map(\.kind) == [.command(.join("#ops")), .command(.join("#dev"))])
    }

    @Test("reconnecting while the old connection still holds the nick tries nick_")
    func alternateNick() {
        var session = registered()
        _ = session.disconnected()
        _ = session.connected()
        let effects = session.received(line(.error(code: .nickInUse, message: "The nickname alice is already in use."), re: "c1"))
        #expect(requests(effects).map(\.kind) == [.command(.nick("alice_"))])
    }

    @Test("lines typed while a join is pending go to the joined room, or stay in the old one if it is refused")
    func linesWaitForTheJoin() throws {
        var session = registered()
        let join = requests(session.typed("/join #dev"))
        #expect(join.map(\.kind) == [.command(.join("#dev"))])
        #expect(requests(session.typed("first words")).isEmpty, "held until the join is answered")
        #expect(!session.hasRoom)
        let released = requests(session.received(line(.join(room: "#dev", nick: "alice"), re: join[0].correlation)))
        #expect(released.map(\.kind) == [.command(.say(text: "first words", room: "#dev"))])
        // Refused: the held line goes where we still are.
        let refused = requests(session.typed("/join #bad!"))
        _ = session.typed("/me waits")
        let back = requests(session.received(line(.error(code: .roomInvalid, message: "no"), re: refused[0].correlation)))
        #expect(back.map(\.kind) == [.command(.action(text: "waits", room: "#dev"))])
        // --room: the auto-join holds the piped lines too.
        var piped = ClientSession(nick: "ci", rooms: ["#ci"], interactive: false)
        _ = piped.connected()
        let auto = requests(piped.received(line(.welcome(nick: "ci", room: "#lobby"), re: "c1")))
        #expect(auto.map(\.kind) == [.command(.join("#ci"))])
        #expect(!piped.hasRoom, "a script's next line is not read before the join is answered")
        _ = piped.received(line(.join(room: "#ci", nick: "ci"), re: auto[0].correlation))
        #expect(piped.hasRoom)
        #expect(requests(piped.typed("done")).map(\.kind) == [.command(.say(text: "done", room: "#ci"))])
    }

    @Test("the message of the day is shown once, not again on each reconnection")
    func motdOnce() {
        let hello = line(.hello(server: "chatd", version: "0.1.0", motd: ["Be nice."]))
        var session = ClientSession(nick: "alice", rooms: [], interactive: true)
        _ = session.connected()
        #expect(session.received(hello).contains(.show(Display(time: Timestamp(milliseconds: 1_763_770_000_000), .notice("*** Be nice.")))))
        _ = session.disconnected()
        _ = session.connected()
        #expect(session.received(hello).count == 1, "only 'Connected to chatd'")
    }

    @Test("parting the last room leaves no current room; parting another keeps the current one")
    func partLastRoom() {
        var session = registered()
        _ = session.received(line(.part(room: "#lobby", nick: "alice", reason: nil)))
        #expect(session.currentRoom == nil)
        #expect(session.prompt == "[alice] ")
    }

    @Test("no reconnect after our own quit, a kick or a ban; a restart reconnects")
    func noReconnect() {
        var quitting = registered()
        _ = quitting.quit()
        #expect(quitting.disconnected().reconnect == false)
        var banned = registered()
        _ = banned.received(line(.bye(reason: "Banned by an operator: spam")))
        #expect(banned.disconnected().reconnect == false)
        var refused = ClientSession(nick: "a", rooms: [], interactive: true)
        _ = refused.connected()
        _ = refused.received(Array("*** You are banned from this server: spam".utf8))
        #expect(refused.disconnected().reconnect == false)
        var kicked = registered()
        _ = kicked.received(line(.bye(reason: "Kicked by an operator", code: .kicked)))
        let (said, reconnect) = kicked.disconnected()
        #expect(reconnect == false)
        #expect(said.contains(.show(Display(.client("Not reconnecting after a kick; run chat again to come back.")))))
        var restarted = registered()
        _ = restarted.received(line(.bye(reason: "Server shutting down", code: .shutdown)))
        #expect(restarted.disconnected().reconnect == true)
    }
}

@Suite("client styling and addresses")
struct ClientStyleTests {
    @Test("without colour a line reads like the text protocol; timestamps are local")
    func plain() {
        let style = DisplayStyle(color: false, timestamps: true, utcOffsetSeconds: 3600)
        let time = Timestamp(iso8601: "2026-11-22T23:30:05.000Z")
        #expect(
            style.render(Display(time: time, .message(room: nil, from: "bob", text: "hi", own: false, mentioned: false)))
                == "00:30 <bob> hi")
        let untimed = DisplayStyle(color: false, timestamps: false)
        #expect(
            untimed.render(Display(.action(room: "#dev", from: "bob", text: "waves", own: false, mentioned: false))) == "[#dev] * bob waves"
        )
        #expect(untimed.render(Display(.ownPrivateMessage(to: "bob", text: "x"))) == "-> *bob* x")
        #expect(untimed.render(Display(.client("Reconnecting"))) == "-!- Reconnecting")
    }

    @Test("a nick has the same colour every time and in every case; your own is bold")
    func nickColours() {
        let style = DisplayStyle(color: true, timestamps: false)
        #expect(style.nickColor("bob", own: false) == style.nickColor("BOB", own: false))
        #expect(style.nickColor("alice", own: true) == "1")
        let colours = Set(["alice", "bob", "carol", "dave", "eve", "frank", "grace"].map { style.nickColor($0, own: false) })
        #expect(colours.count > 3)
        let line = style.render(Display(.error("*** Error: no")))
        #expect(line == "\u{1B}[31m*** Error: no\u{1B}[0m")
    }

    @Test("HOST[:PORT] with IPv6 literals, defaults and clear errors")
    func addresses() {
        func parse(_ text: String) -> HostAndPort? { try? HostAndPort.parse(text, .server).get() }
        #expect(parse("") == HostAndPort(host: "127.0.0.1", port: 7777))
        #expect(parse("chat.example.org") == HostAndPort(host: "chat.example.org", port: 7777))
        #expect(parse("chat.example.org:7000") == HostAndPort(host: "chat.example.org", port: 7000))
        #expect(parse("[::1]:7000") == HostAndPort(host: "::1", port: 7000))
        #expect(parse("[::1]") == HostAndPort(host: "::1", port: 7777))
        #expect(parse("::1") == HostAndPort(host: "::1", port: 7777))
        #expect(parse("fe80::1%lo") == HostAndPort(host: "fe80::1%lo", port: 7777))
        #expect(parse(":7001") == HostAndPort(host: "127.0.0.1", port: 7001))
        #expect(HostAndPort.parse("host:http", .server) == .failure(.badPort("http")))
        #expect(HostAndPort.parse("host:70000", .server) == .failure(.badPort("70000")))
        #expect(HostAndPort.parse("[::1:7000", .server) == .failure(.unclosedBracket("[::1:7000")))
        #expect(HostAndPort(host: "::1", port: 7000).description == "[::1]:7000")
    }
}

@Suite("client session and the server's limits")
struct ClientLimitsTests {
    @Test("hello's limits shrink the window to floodQueueLines and refuse overlong lines locally")
    func limits() {
        var session = ClientSession(nick: "alice", rooms: [], interactive: true)
        _ = session.connected()
        let hello = Event.Kind.hello(
            server: "chatd", version: "0.1.0", motd: [],
            limits: ClientLimits(maxLineBytes: 64, floodBurst: 2, floodRate: 1, floodQueueLines: 3))
        var bytes = JSONFormat.render(Event(id: 1, time: Timestamp(milliseconds: 0), hello))
        bytes.removeLast()
        _ = session.received(bytes)
        #expect(session.window == 3)
        #expect(session.maxLineBytes == 64)
        var welcome = JSONFormat.render(Event(id: 2, time: Timestamp(milliseconds: 0), re: "c1", .welcome(nick: "alice", room: "#lobby")))
        welcome.removeLast()
        _ = session.received(welcome)
        let long = session.typed(String(repeating: "x", count: 60))
        #expect(long == [.show(Display(.error("*** Error: That line is too long to send: the server takes at most 64 bytes.")))])
        var sent = 0
        for n in 1...5 {
            sent += session.typed("l\(n)").filter { if case .send = $0 { true } else { false } }.count
        }
        #expect(sent == 3)
    }
}

@Suite("wrapping long lines")
struct WrappingTests {
    @Test("a long line wraps at spaces, continuation rows indented past the timestamp")
    func wraps() {
        let style = DisplayStyle(color: false, timestamps: true)
        let text = "the quick brown fox jumps over the lazy dog and keeps running far away"
        let rows = style.render(
            Display(time: Timestamp(milliseconds: 0), .message(room: nil, from: "bob", text: text, own: false, mentioned: false)), width: 31
        )
        #expect(rows == ["00:00 <bob> the quick brown", "      fox jumps over the lazy", "      dog and keeps running", "      far away"])
        #expect(rows.allSatisfy { DisplayWidth.of($0) <= 30 })
    }

    @Test("a word longer than a row is cut; wide characters count twice; colours survive the break")
    func hardBreaks() {
        let plain = DisplayStyle(color: false, timestamps: false)
        #expect(plain.render(Display(.status(String(repeating: "x", count: 25))), width: 11) == ["xxxxxxxxxx", "xxxxxxxxxx", "xxxxx"])
        #expect(plain.render(Display(.status("日本語日本語")), width: 9).map(DisplayWidth.of) == [8, 4])
        let coloured = DisplayStyle(color: true, timestamps: false)
        let rows = coloured.render(Display(.error("aaaa bbbb cccc")), width: 11)
        #expect(rows == ["\u{1B}[31maaaa bbbb\u{1B}[0m", "\u{1B}[31mcccc\u{1B}[0m"])
    }
}

/// A room line as kept history.
private func kept(_ id: UInt64, _ text: String, room: String = "#lobby") -> HistoryRecord {
    HistoryRecord(
        id: id, time: Timestamp(milliseconds: 1_763_770_000_000), room: room, roomKey: room.lowercased(), from: "bob", text: text,
        isAction: false)
}

private func texts(_ effects: [ClientSession.Effect]) -> [String] {
    shown(effects).compactMap {
        switch $0 {
        case .message(_, _, let text, _, _): text
        case .status(let text): text
        default: nil
        }
    }
}

@Suite("catching up after a reconnection")
struct CatchUpTests {
    /// alice saw bob's line 10 in #lobby, then lost the connection and is registered again.
    func reconnected() -> ClientSession {
        var session = registered()
        _ = session.received(line(.message(room: "#lobby", from: "bob", text: "seen"), id: 10))
        _ = session.disconnected(reason: "reset")
        _ = session.connected()
        _ = session.received(line(.welcome(nick: "alice", room: "#lobby"), re: "c2", id: 30))
        return session
    }

    @Test("when the scrollback reaches back to the last line seen, only the lines after it show, once")
    func scrollbackCovers() {
        var session = reconnected()
        #expect(
            session.received(line(.history(room: "#lobby", lines: [kept(9, "old"), kept(10, "seen"), kept(11, "missed")]), id: 31)).isEmpty)
        let joined = texts(session.received(line(.join(room: "#lobby", nick: "alice"), id: 32)))
        #expect(
            joined == [
                "*** alice has joined #lobby", "*** Missed in #lobby while disconnected (1 line):", "missed", "*** End of missed lines.",
            ])
        #expect(texts(session.received(line(.message(room: "#lobby", from: "bob", text: "live"), id: 33))) == ["live"])
        #expect(session.lastSeen["#lobby"] == 33)
    }

    @Test("when it may not, the gap is asked for (after the last seen, before the scrollback); live lines wait; nothing shows twice")
    func gap() throws {
        var session = reconnected()
        _ = session.received(line(.history(room: "#lobby", lines: [kept(20, "s1"), kept(21, "s2")]), id: 31))
        let joined = session.received(line(.join(room: "#lobby", nick: "alice"), id: 32))
        #expect(texts(joined) == ["*** alice has joined #lobby"])
        let asked = try #require(requests(joined).first)
        #expect(asked.kind == .command(.history(room: "#lobby", before: 20, after: 10, limit: Command.maxHistoryLines)))
        #expect(session.received(line(.message(room: "#lobby", from: "bob", text: "live"), id: 33)).isEmpty, "held until the gap is shown")
        let answer = session.received(
            line(.history(room: "#lobby", lines: [kept(12, "g1"), kept(15, "g2")]), re: asked.correlation, id: 34))
        #expect(
            texts(answer) == [
                "*** Missed in #lobby while disconnected (4 lines):", "g1", "g2", "s1", "s2", "*** End of missed lines.", "live",
            ])
        #expect(texts(session.received(line(.message(room: "#lobby", from: "bob", text: "later"), id: 35))) == ["later"])
    }

    @Test("if the gap cannot be read, the scrollback and the held lines still show")
    func gapRefused() throws {
        var session = reconnected()
        _ = session.received(line(.history(room: "#lobby", lines: [kept(20, "s1")]), id: 31))
        let asked = try #require(requests(session.received(line(.join(room: "#lobby", nick: "alice"), id: 32))).first)
        _ = session.received(line(.message(room: "#lobby", from: "bob", text: "live"), id: 33))
        let refused = session.received(
            line(.error(code: .historyUnavailable, message: "History is not available: off."), re: asked.correlation, id: 34))
        #expect(
            texts(refused) == [
                "*** Missed in #lobby while disconnected (1 line):", "s1", "*** End of missed lines.", "live",
            ])
    }
}
