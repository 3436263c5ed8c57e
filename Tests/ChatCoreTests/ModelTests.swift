import Testing

@testable import ChatCore

@Suite("directory")
struct DirectoryTests {
    let t0 = Timestamp(milliseconds: 1_000)
    let lobby = try! RoomName.validate("#lobby", maxLength: 32).get()
    let a = SessionID(1), b = SessionID(2), c = SessionID(3)

    func directory() -> Directory {
        Directory(limits: Limits(), defaultRoom: lobby, shardCount: 2)
    }

    func events(_ deliveries: [Delivery]) -> [(Event.Kind, Audience)] {
        deliveries.compactMap { if case .event(let e, let audience) = $0 { (e.kind, audience) } else { nil } }
    }

    @Test("registering claims the nick, joins the default room and tells the room")
    func register() throws {
        var d = directory()
        let out = try d.register(a, nick: "alice", shard: 0, at: t0).get()
        #expect(
            out.prefix(4) == [
                .event(Event(id: 1, time: t0, .welcome(nick: "alice", room: "#lobby")), to: .session(a)),
                .added(a, room: "#lobby", shard: 0),
                .current(a, room: "#lobby", shard: 0),
                .event(Event(id: 2, time: t0, .join(room: "#lobby", nick: "alice")), to: .room("#lobby", sender: nil, shards: [0])),
            ])
        #expect(d.register(b, nick: "ALICE", shard: 1, at: t0) == .failure(.inUse("alice")))
        // Look-alikes by skeleton, either way round: a capital I for the l, and all-Cyrillic.
        #expect(d.register(b, nick: "aIice", shard: 1, at: t0) == .failure(.inUse("alice")))
        #expect(d.register(b, nick: "\u{430}\u{4CF}\u{456}\u{441}\u{435}", shard: 1, at: t0) == .failure(.inUse("alice")))
        _ = try d.register(c, nick: "BIanca", shard: 1, at: t0).get()
        #expect(d.register(b, nick: "blanca", shard: 1, at: t0) == .failure(.inUse("BIanca")))
        #expect(d.privateMessage(a, to: "blanca", text: "hi", at: t0).count == 2, "found by its shape")
        _ = d.disconnect(c, reason: "bye", at: t0)
        #expect(d.nicks.isEmpty == false && d.nicks.values.allSatisfy { $0 == a }, "both keys released")
        _ = try d.register(b, nick: "bob", shard: 1, at: t0).get()
        #expect(d.rooms["#lobby"]?.shardCounts == [1, 1])
    }

    @Test("messages go to the room with the sender marked; ids increase")
    func say() throws {
        var d = directory()
        _ = try d.register(a, nick: "alice", shard: 0, at: t0).get()
        let first = events(d.say(a, text: "one", room: nil, at: t0))
        let second = events(d.say(a, text: "two", room: nil, at: t0))
        #expect(first.map(\.1) == [.room("#lobby", sender: a, shards: [0])])
        guard case .event(let e1, _) = d.say(a, text: "x", room: nil, at: t0).first, case .message = e1.kind else {
            Issue.record("no message")
            return
        }
        #expect(first.count == 1 && second.count == 1)
        #expect(d.rooms["#lobby"]?.messages == 3)
        #expect(
            events(d.say(a, text: "hi", room: "#elsewhere", at: t0)).map(\.0) == [
                .error(code: .noSuchRoom, message: "There is no room #elsewhere.")
            ])
    }

    @Test("a nick change is told once to each co-member, even across shared rooms")
    func nickChange() throws {
        var d = directory()
        _ = try d.register(a, nick: "alice", shard: 0, at: t0).get()
        _ = try d.register(b, nick: "bob", shard: 1, at: t0).get()
        _ = try d.register(c, nick: "carol", shard: 0, at: t0).get()
        _ = d.join(a, room: "#dev", at: t0)
        _ = d.join(b, room: "#dev", at: t0)
        let out = events(d.changeNick(a, to: "alicia", at: t0))
        #expect(out.map(\.1) == [.sessions([a, b, c])])
        #expect(
            events(d.changeNick(b, to: "ALICIA", at: t0)).map(\.0) == [
                .error(code: .nickInUse, message: "The nickname alicia is already in use.")
            ])
    }

    @Test("leaving the last room, quitting, and empty rooms disappearing")
    func leaving() throws {
        var d = directory()
        _ = try d.register(a, nick: "alice", shard: 0, at: t0).get()
        _ = try d.register(b, nick: "bob", shard: 1, at: t0).get()
        _ = d.join(a, room: "#dev", at: t0)
        #expect(d.rooms["#dev"] != nil)
        let part = d.part(a, room: "#dev", reason: "bye", at: t0)
        #expect(part.contains(.removed(a, room: "#dev", shard: 0)))
        // The leaver, alone on its loop, is still an addressee of its own part notice.
        #expect(events(part).first?.1 == .room("#dev", sender: nil, shards: [0]))
        #expect(d.rooms["#dev"] == nil)
        #expect(d.clients[a]?.currentRoom == lobby)
        let quit = events(d.disconnect(a, reason: "Quit", at: t0))
        #expect(quit.map(\.1) == [.room("#lobby", sender: nil, shards: [1])])
        #expect(d.nicks["alice"] == nil)
        #expect(d.disconnect(b, reason: "Quit", at: t0).isEmpty)  // nobody left to tell
        #expect(d.rooms.isEmpty)
    }

    @Test("parting a room that is not the current one tells of no change of room")
    func partOtherRoom() throws {
        var d = directory()
        _ = try d.register(a, nick: "alice", shard: 0, at: t0).get()
        _ = d.join(a, room: "#dev", at: t0)  // current: #dev
        let out = events(d.part(a, room: "#lobby", reason: nil, at: t0))
        #expect(!out.contains { if case .current = $0.0 { true } else { false } }, "\(out)")
        #expect(d.clients[a]?.currentRoom?.display == "#dev")
        let last = events(d.part(a, room: nil, reason: nil, at: t0))
        #expect(last.contains { if case .notice(let text) = $0.0 { text.hasPrefix("You are not in any room now") } else { false } })
    }

    @Test("above maxAnnouncedRoomSize, joins, parts and quits are told only to the member concerned")
    func quietBigRooms() throws {
        var limits = Limits()
        limits.maxAnnouncedRoomSize = 2
        var d = Directory(limits: limits, defaultRoom: lobby, shardCount: 2)
        let d1 = SessionID(4)
        let lobbyAudience = { (shards: ShardSet) in Audience.room("#lobby", sender: nil, shards: shards) }
        // Up to two members, the room is told.
        #expect(events(try d.register(a, nick: "alice", shard: 0, at: t0).get()).map(\.1).contains(lobbyAudience([0])))
        #expect(events(try d.register(b, nick: "bob", shard: 1, at: t0).get()).map(\.1).contains(lobbyAudience([0, 1])))
        // The third joins a room of three: only it sees its join, and it learns why.
        let third = events(try d.register(c, nick: "carol", shard: 0, at: t0).get())
        #expect(third.contains { $0.0 == .join(room: "#lobby", nick: "carol") && $0.1 == .session(c) })
        #expect(!third.contains { $0.1 == lobbyAudience([0, 1]) })
        _ = try d.register(d1, nick: "dave", shard: 1, at: t0).get()
        // Leaving a room of four: only the leaver is told; quitting one: nobody.
        let part = events(d.part(d1, room: "#lobby", reason: nil, at: t0))
        #expect(part.first?.1 == .session(d1))
        #expect(d.disconnect(c, reason: "Quit", at: t0).isEmpty)
        // Back at two members the room is told again.
        #expect(events(d.disconnect(b, reason: "Quit", at: t0)).map(\.1) == [lobbyAudience([0])])
        // A client in a quiet room and a small one: only the small room's members hear of its quit.
        _ = try d.register(b, nick: "bob", shard: 1, at: t0).get()
        _ = try d.register(c, nick: "carol", shard: 0, at: t0).get()
        _ = d.join(a, room: "#dev", at: t0)
        _ = d.join(d1, room: "#dev", at: t0)
        #expect(events(d.disconnect(a, reason: "Quit", at: t0)).map(\.1) == [.sessions([d1])])
    }

    @Test("/whois tells the asker alone a client's rooms, connected-since, idle time and kind; never its address")
    func whois() throws {
        var d = directory()
        _ = try d.register(a, nick: "alice", shard: 0, address: "192.0.2.1", kind: .line, at: t0).get()
        _ = try d.register(b, nick: "Bob", shard: 1, address: "192.0.2.2", kind: .program("chat 0.1.0"), at: t0).get()
        _ = d.join(b, room: "#dev", at: t0)
        _ = d.say(b, text: "hi", room: nil, action: false, at: Timestamp(milliseconds: 61_000))
        let out = d.perform(.whois(nick: "BOB"), by: a, at: Timestamp(milliseconds: 136_500), re: "w")
        let expected = Whois(nick: "Bob", rooms: ["#lobby", "#dev"], connectedAt: t0, idleSeconds: 75, client: "chat 0.1.0")
        #expect(events(out).map(\.0) == [.whois(expected)])
        #expect(events(out).map(\.1) == [.session(a)])
        let re: RequestID? = if case .event(let e, _)? = out.first { e.re } else { nil }
        #expect(re == "w")
        #expect(TextFormat.render(Event(id: 1, time: t0, .whois(expected))).contains("192.0.2") == false)
        let missing = d.perform(.whois(nick: "carol"), by: a, at: t0)
        #expect(events(missing).map(\.0) == [.error(code: .noSuchNick, message: "There is nobody called carol here.")])
    }

    @Test("away: the client alone is told; whoever messages it hears it is away, after the message; /whois says so; back clears it")
    func away() throws {
        var d = directory()
        _ = try d.register(a, nick: "alice", shard: 0, address: "192.0.2.1", kind: .line, at: t0).get()
        _ = try d.register(b, nick: "bob", shard: 1, address: "192.0.2.2", kind: .irc, at: t0).get()
        #expect(events(d.perform(.away(message: "at lunch"), by: b, at: t0, re: "x")).map(\.0) == [.awaySet(message: "at lunch")])
        let sent = d.perform(.privateMessage(to: "BOB", text: "hi"), by: a, at: t0)
        #expect(events(sent).map(\.0).last == .away(nick: "bob", message: "at lunch"))
        #expect(events(sent).map(\.1).last == .session(a))
        guard case .whois(let whois)? = events(d.perform(.whois(nick: "bob"), by: a, at: t0)).first?.0 else {
            Issue.record("no whois")
            return
        }
        #expect(whois.away == "at lunch")
        #expect(events(d.perform(.away(message: nil), by: b, at: t0)).map(\.0) == [.awaySet(message: nil)])
        #expect(events(d.perform(.privateMessage(to: "bob", text: "again"), by: a, at: t0)).count == 2)
    }

    @Test("whoever joins a room gets its newest lines, oldest first, before the join notice: none twice, none lost")
    func scrollback() throws {
        var d = directory()
        d.scrollbackLines = 2
        _ = try d.register(a, nick: "alice", shard: 0, at: t0).get()
        for text in ["one", "two", "three"] { _ = d.say(a, text: text, room: nil, at: t0) }
        _ = d.say(a, text: "waves", room: nil, action: true, at: t0)
        let out = try d.register(b, nick: "bob", shard: 1, at: t0).get()
        let kinds = events(out).map(\.0)
        guard case .history(let room, let lines)? = kinds.first(where: { if case .history = $0 { true } else { false } }) else {
            Issue.record("no scrollback in \(kinds)")
            return
        }
        #expect(room == "#lobby" && lines.map(\.text) == ["three", "waves"] && lines.map(\.isAction) == [false, true])
        #expect(events(out).first { if case .history = $0.0 { true } else { false } }?.1 == .session(b))
        let historyIndex = kinds.firstIndex { if case .history = $0 { true } else { false } }!
        let joinIndex = kinds.firstIndex { if case .join = $0 { true } else { false } }!
        #expect(historyIndex < joinIndex)
        // A room nobody spoke in has none; with scrollbackLines 0, nothing is kept.
        #expect(!events(d.join(b, room: "#quiet", at: t0)).contains { if case .history = $0.0 { true } else { false } })
        var off = directory()
        _ = try off.register(a, nick: "alice", shard: 0, at: t0).get()
        _ = off.say(a, text: "lost", room: nil, at: t0)
        #expect(off.scrollback.isEmpty)
        // Seeded from the store after a restart.
        var seeded = directory()
        seeded.scrollbackLines = 5
        seeded.seedScrollback([
            HistoryRecord(id: 9, time: t0, room: "#lobby", roomKey: "#lobby", from: "x", text: "later", isAction: false),
            HistoryRecord(id: 8, time: t0, room: "#lobby", roomKey: "#lobby", from: "x", text: "earlier", isAction: false),
        ])
        #expect(seeded.scrollback["#lobby"]?.lines.map(\.text) == ["earlier", "later"])
        // The ring keeps the newest, in order, however many came.
        var ring = Scrollback()
        for id in 1...7 {
            ring.append(
                HistoryRecord(id: UInt64(id), time: t0, room: "#r", roomKey: "#r", from: "x", text: "\(id)", isAction: false), keeping: 3)
        }
        #expect(ring.lines.map(\.text) == ["5", "6", "7"])
    }

    @Test("a topic is set by a member, told to the room, shown on join and to anyone who asks, kept when the room empties")
    func topics() throws {
        var d = directory()
        _ = try d.register(a, nick: "alice", shard: 0, at: t0).get()
        _ = try d.register(b, nick: "bob", shard: 1, at: t0).get()
        let set = events(d.perform(.topic(room: nil, text: "  Release day "), by: a, at: t0))
        let topic = RoomTopic(text: "Release day", setBy: "alice", setAt: t0)
        #expect(set.map(\.0) == [.topic(room: "#lobby", topic: topic, changedBy: "alice")])
        #expect(set.first?.1 == .room("#lobby", sender: nil, shards: [0, 1]), "the setter sees it too, as the confirmation")
        #expect(
            events(d.perform(.topic(room: nil, text: "Release day"), by: b, at: t0)).map(\.0) == [
                .notice(text: "That is the topic of #lobby already.")
            ])
        #expect(
            events(d.perform(.topic(room: nil, text: nil), by: b, at: t0)).map(\.0) == [
                .topic(room: "#lobby", topic: topic, changedBy: nil)
            ])
        #expect(d.roomSummaries == [RoomSummary(name: "#lobby", members: 2, topic: "Release day")])
        // Too long, or a room one is not in: refused. Asking about any room is fine.
        let long = String(repeating: "x", count: Command.maxTopicLength + 1)
        #expect(
            events(d.perform(.topic(room: nil, text: long), by: a, at: t0)).first?.0
                == .error(code: .topicTooLong, message: "A topic is at most 300 characters; that one has 301."))
        _ = d.join(a, room: "#dev", at: t0)
        #expect(
            events(d.perform(.topic(room: "#dev", text: "x"), by: b, at: t0)).map(\.0) == [
                .error(code: .notInRoom, message: "You are not in #dev.")
            ])
        #expect(
            events(d.perform(.topic(room: "#dev", text: nil), by: b, at: t0)).map(\.0) == [.topic(room: "#dev", topic: nil, changedBy: nil)]
        )
        // The room empties and comes back: its topic is still there, shown to the joiner after the join notice.
        _ = d.disconnect(a, reason: "Quit", at: t0)
        _ = d.part(b, room: "#lobby", reason: nil, at: t0)
        #expect(d.rooms["#lobby"] == nil)
        let rejoin = events(d.join(b, room: "#LOBBY", at: t0)).map(\.0)
        let joinIndex = rejoin.firstIndex { if case .join = $0 { true } else { false } }!
        #expect(rejoin[joinIndex + 1] == .topic(room: "#LOBBY", topic: topic, changedBy: nil))
        // Cleared: told as such, and no longer shown on join.
        #expect(
            events(d.perform(.topic(room: nil, text: ""), by: b, at: t0)).map(\.0) == [.topic(room: "#LOBBY", topic: nil, changedBy: "bob")]
        )
        #expect(d.topics.isEmpty)
        // Seeded from the store.
        var seeded = directory()
        seeded.seedTopics([StoredTopic(room: "#lobby", roomKey: "#lobby", topic: topic, eventID: 4)])
        #expect(seeded.topics["#lobby"] == topic)
    }

    @Test("a purge drops matching lines from the scrollback, so they are never replayed; retention drops old ones")
    func forget() throws {
        var d = directory()
        d.scrollbackLines = 10
        _ = try d.register(a, nick: "Spammer", shard: 0, at: t0).get()
        _ = try d.register(b, nick: "bob", shard: 1, at: t0).get()
        _ = d.say(a, text: "buy now", room: nil, at: t0)
        _ = d.say(b, text: "hello", room: nil, at: Timestamp(milliseconds: 5_000))
        _ = d.say(a, text: "buy more", room: nil, at: Timestamp(milliseconds: 6_000))
        var purge = HistoryPurge(nickKey: HistoryPurge.key(ofSender: "SPAMMER"))
        purge.upTo = d.newestEventID
        #expect(d.forget(purge) == 2)
        #expect(d.scrollback["#lobby"]?.lines.map(\.text) == ["hello"])
        let out = try d.register(c, nick: "carol", shard: 0, at: t0).get()
        let replayed = events(out).compactMap { if case .history(_, let lines) = $0.0 { lines.map(\.text) } else { nil } }
        #expect(replayed == [["hello"]])
        #expect(d.forget(before: Timestamp(milliseconds: 5_001)) == 1)
        #expect(d.scrollback["#lobby"] == nil)
    }

    @Test("the room limit per client is enforced")
    func roomLimit() throws {
        var limits = Limits()
        limits.maxRoomsPerClient = 2
        var d = Directory(limits: limits, defaultRoom: lobby, shardCount: 1)
        _ = try d.register(a, nick: "alice", shard: 0, at: t0).get()
        _ = d.join(a, room: "#one", at: t0)
        #expect(
            events(d.join(a, room: "#two", at: t0)).first.map { $0.0 }
                == .error(code: .tooManyRooms, message: "You are in 2 rooms, the most allowed: /part one first."))
    }
}

@Suite("session")
struct SessionTests {
    @Test("the first text line is the nick; commands before it are limited")
    func text() {
        var s = Session(limits: Limits())
        #expect(s.receive(line: Array("alice".utf8)) == .register(nick: "alice", re: nil))
        #expect(
            s.receive(line: Array("/join #x".utf8)) == .reply(.error(code: .notRegistered, message: "Choose a nickname first."), re: nil))
        #expect(s.receive(line: Array("/nick alice".utf8)) == .register(nick: "alice", re: nil))
        s.registered()
        #expect(s.receive(line: Array("hi".utf8)) == .perform(.say(text: "hi", room: nil), re: nil))
        #expect(s.receive(line: Array("/quit bye".utf8)) == .quit(reason: "Quit: bye"))
        #expect(s.dialect == .text)
    }

    @Test("a first line that is a JSON object switches to JSON mode")
    func json() {
        var s = Session(limits: Limits())
        #expect(s.receive(line: Array(#" {"type":"hello","id":"1"}"#.utf8)) == .reply(.nickRequired, re: "1"))
        #expect(s.dialect == .json)
        #expect(s.receive(line: Array(#"{"type":"nick","nick":"bot"}"#.utf8)) == .register(nick: "bot", re: nil))
        #expect(
            s.receive(line: Array("plain".utf8))
                == .reply(
                    .error(
                        code: .badRequest, message: "Bad request: not valid JSON (line 1, column 1: unexpected 'p', expected a value)"),
                    re: nil))
    }
}

@Suite("config")
struct ConfigTests {
    @Test("an empty object is the built-in defaults")
    func defaults() throws {
        #expect(try Config.parse("{}").get() == Config())
    }

    @Test("automatic event loops: one per core but one, at least one; a set count is kept, up to 64")
    func eventLoops() {
        var config = Config()
        #expect([1, 2, 4, 8, 200].map { config.eventLoopCount(cores: $0) } == [1, 1, 3, 7, 64])
        config.eventLoops = 2
        #expect(config.eventLoopCount(cores: 1) == 2)
    }

    @Test("parkIdleSeconds: 0 turns parking off, a day at most")
    func parkIdleSeconds() throws {
        #expect(Config().limits.parkIdleSeconds == 1)
        #expect(try Config.parse(#"{"limits":{"parkIdleSeconds":0}}"#).get().limits.parkIdleSeconds == 0)
        guard case .failure(let error) = Config.parse(#"{"limits":{"parkIdleSeconds":86401}}"#) else {
            Issue.record("accepted")
            return
        }
        #expect(error.issues.map(\.path) == ["limits.parkIdleSeconds"])
    }

    @Test("TLS listeners need a certificate and a key, absolute paths, and ports of their own; the web client may be HTTPS only")
    func tls() throws {
        func paths(_ text: String) -> [String] {
            if case .failure(let error) = Config.parse(text) { return error.issues.map(\.path) }
            return []
        }
        #expect(paths(#"{"tls":{"listen":["0.0.0.0:6697"]}}"#) == ["tls.certificate", "tls.key"])
        #expect(paths(#"{"web":{"tlsListen":["0.0.0.0:8443"]}}"#) == ["tls.certificate", "tls.key"])
        #expect(paths(#"{"tls":{"certificate":"cert.pem","key":"/k.pem"}}"#) == ["tls.certificate"])
        #expect(paths(#"{"tls":{"listen":["127.0.0.1:7777"],"certificate":"/c","key":"/k"}}"#) == ["tls.listen"])
        #expect(paths(#"{"web":{"listen":[]}}"#) == ["web.listen"])
        let https = try Config.parse(#"{"web":{"listen":[],"tlsListen":["0.0.0.0:443"]},"tls":{"certificate":"/c","key":"/k"}}"#).get()
        #expect(https.needsTLS && https.web.listen.isEmpty && https.web.hostNames.contains("0.0.0.0"))
        // Off, the web client's TLS listener needs nothing.
        #expect(!(try Config.parse(#"{"web":{"enabled":false,"tlsListen":["0.0.0.0:443"]}}"#).get().needsTLS))
        #expect(Config.restartKeys.isSuperset(of: ["tls.listen", "web.tlsListen"]))
        #expect(!Config.restartKeys.contains("tls.certificate") && !Config.restartKeys.contains("tls.key"))
    }

    @Test("PROXY headers, versions 1 and 2: the client's address, the header's length; partial ones wait, others are refused")
    func proxyHeaders() {
        let v1 = Array("PROXY TCP4 203.0.113.9 10.0.0.1 5555 7777\r\nalice\r\n".utf8)
        #expect(ProxyHeader.parse(v1) == .complete(client: ([203, 0, 113, 9], 5555), length: 43))
        #expect(ProxyHeader.parse(v1.prefix(20)) == .incomplete)
        #expect(
            ProxyHeader.parse(Array("PROXY TCP6 2001:db8::1 ::1 1 2\r\n".utf8))
                == .complete(client: ([0x20, 0x01, 0x0D, 0xB8] + Array(repeating: 0, count: 11) + [1], 1), length: 32))
        #expect(ProxyHeader.parse(Array("PROXY UNKNOWN\r\n".utf8)) == .complete(client: nil, length: 15))
        #expect(
            ProxyHeader.parse(Array("PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\n".utf8))
                == .invalid("a version 1 header with a bad source address"))
        #expect(ProxyHeader.parse(Array("alice\r\n".utf8)) == .absent)
        #expect(ProxyHeader.parse(Array("PRO".utf8)) == .incomplete)
        #expect(ProxyHeader.parse(Array("POST / HTTP/1.1".utf8)) == .absent, "an HTTP proxy's request")
        #expect(ProxyHeader.parse(Array("GE".utf8)) == .absent)
        // Version 2: PROXY over TCP4, 12 bytes of addresses, then the client's first bytes.
        let v2 =
            ProxyHeader.v2Signature + [0x21, 0x11, 0x00, 0x0C, 198, 51, 100, 7, 10, 0, 0, 1, 0x1F, 0x90, 0x1E, 0x61] + Array("hi".utf8)
        #expect(ProxyHeader.parse(v2) == .complete(client: ([198, 51, 100, 7], 8080), length: 28))
        #expect(ProxyHeader.parse(v2.prefix(20)) == .incomplete)
        let local = ProxyHeader.v2Signature + [0x20, 0x00, 0x00, 0x00]
        #expect(ProxyHeader.parse(local) == .complete(client: nil, length: 16))
        #expect(ProxyHeader.parse(ProxyHeader.v2Signature + [0x31, 0x11, 0, 0]) == .invalid("PROXY protocol version 3"))
        // Without trust, a first line that is a header is refused by the session.
        var session = Session(limits: Limits())
        #expect(session.receive(line: Array("PROXY TCP4 1.2.3.4 5.6.7.8 1 2".utf8)) == .proxyHeader)
    }

    @Test("every problem is reported with its path")
    func problems() {
        let result = Config.parse(#"{"limits":{"maxLineBytes":1,"sendQueueBytes":1.5},"listen":[],"server":{"motd":[1]},"colour":"red"}"#)
        guard case .failure(let error) = result else {
            Issue.record("accepted")
            return
        }
        #expect(error.issues.map(\.path) == ["server.motd[0]", "listen", "limits.maxLineBytes", "limits.sendQueueBytes", "colour"])
        #expect(error.issues[2].message == "must be from 64 to 1048576, got 1")
    }

    @Test("listen addresses parse IPv4, IPv6 and names")
    func listen() {
        func listen(_ text: String) -> Result<HostAndPort, AddressError> { HostAndPort.parse(text, .listen) }
        #expect(listen("0.0.0.0:7777") == .success(HostAndPort(host: "0.0.0.0", port: 7777)))
        #expect(listen("[::1]:0") == .success(HostAndPort(host: "::1", port: 0)))
        #expect(listen("localhost:80") == .success(HostAndPort(host: "localhost", port: 80)))
        #expect(listen("::1:80") == .failure(.unbracketedIPv6("::1:80")))
        #expect(listen("host:99999") == .failure(.badPort("99999", range: 0...65535)))
        #expect(listen(":80") == .failure(.missingHost(":80")))
        #expect(listen("host") == .failure(.missingPort("host")))
        // One formatter for every address: IPv6 in brackets.
        #expect(HostAndPort(host: "::1", port: 7777).description == "[::1]:7777")
        #expect(WebOrigin("http://[::1]:8080")?.description == "http://[::1]:8080")
    }
}
