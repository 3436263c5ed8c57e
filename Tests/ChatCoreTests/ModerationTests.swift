import Testing

@testable import ChatCore

@Suite("room moderation")
struct ModerationTests {
    let t0 = Timestamp(milliseconds: 1_000)
    let lobby = try! RoomName.validate("#lobby", maxLength: 32).get()
    let a = SessionID(1), b = SessionID(2), c = SessionID(3)

    /// alice created #dev (its operator); bob and carol joined it.
    func room() throws -> Directory {
        var d = Directory(limits: Limits(), defaultRoom: lobby, shardCount: 2)
        _ = try d.register(a, nick: "alice", shard: 0, at: t0).get()
        _ = try d.register(b, nick: "bob", shard: 1, at: t0).get()
        _ = try d.register(c, nick: "carol", shard: 1, at: t0).get()
        for id in [a, b, c] { _ = d.join(id, room: "#dev", at: t0) }
        return d
    }

    func kinds(_ deliveries: [Delivery]) -> [Event.Kind] {
        deliveries.compactMap { if case .event(let e, _) = $0 { e.kind } else { nil } }
    }

    @Test("a room's creator is its operator; the default room has none; roles show in who; they go with the membership")
    func creatorIsOperator() throws {
        var d = try room()
        #expect(d.rooms["#dev"]?.roles == [a: .op])
        #expect(d.rooms["#dev"]?.modes == [.noOutsideMessages, .topicLocked])
        #expect(d.rooms["#lobby"]?.roles.isEmpty == true)
        #expect(d.rooms["#lobby"]?.modes == [.noOutsideMessages])
        #expect(kinds(d.who(b, room: "#dev", at: t0)) == [.who(room: "#dev", members: ["alice", "bob", "carol"], roles: ["alice": .op])])
        _ = d.part(a, room: "#dev", reason: nil, at: t0)
        _ = d.join(a, room: "#dev", at: t0)
        #expect(d.rooms["#dev"]?.roles.isEmpty == true, "rejoining a room that still exists gives no role")
    }

    @Test("kick: operators only; told to the whole room, the kicked member included; it leaves the room")
    func kick() throws {
        var d = try room()
        #expect(refusal(d.kick(b, room: "#dev", nick: "carol", reason: nil, at: t0)) == .opNeeded)
        #expect(refusal(d.kick(a, room: "#dev", nick: "nobody", reason: nil, at: t0)) == .noSuchNick)
        _ = d.part(c, room: "#dev", reason: nil, at: t0)
        #expect(refusal(d.kick(a, room: "#dev", nick: "carol", reason: nil, at: t0)) == .userNotInRoom)
        let out = d.kick(a, room: "#dev", nick: "BOB", reason: "spam", at: t0)
        #expect(kinds(out).first == .kick(room: "#dev", nick: "bob", by: "alice", reason: "spam"))
        guard case .event(_, let audience) = out.first else { Issue.record("no event"); return }
        #expect(audience == .room("#dev", sender: nil, shards: [0, 1]), "bob, still a member, hears it")
        #expect(out.contains(.removed(b, room: "#dev", shard: 1)))
        #expect(d.rooms["#dev"]?.members == [a])
        #expect(d.clients[b]?.rooms.map(\.display) == ["#lobby"])
        #expect(kinds(out).contains(.current(room: "#lobby")), "the kicked member is told where it talks now")
    }

    @Test("mode: roles and flags change by operators only, told to the room; no-ops and unknown letters are said")
    func modes() throws {
        var d = try room()
        #expect(refusal(d.mode(b, room: "#dev", modes: "+m", arguments: [], at: t0)) == .opNeeded)
        let out = d.mode(a, room: "#dev", modes: "+ov-t", arguments: ["bob", "carol"], at: t0)
        #expect(
            kinds(out) == [
                .modeChange(
                    room: "#dev", by: "alice",
                    changes: [
                        RoomModeChange(adding: true, letter: "o", argument: "bob"),
                        RoomModeChange(adding: true, letter: "v", argument: "carol"),
                        RoomModeChange(adding: false, letter: "t"),
                    ])
            ])
        #expect(d.rooms["#dev"]?.roles == [a: .op, b: .op, c: .voice])
        #expect(d.rooms["#dev"]?.modes == [.noOutsideMessages])
        #expect(kinds(d.mode(a, room: "#dev", modes: "+o", arguments: ["bob"], at: t0)) == [.notice(text: "That changes nothing in #dev.")])
        #expect(refusal(d.mode(a, room: "#dev", modes: "+x", arguments: [], at: t0)) == .unknownMode)
        #expect(refusal(d.mode(a, room: "#dev", modes: "-n", arguments: [], at: t0)) == .unknownMode)
        #expect(refusal(d.mode(a, room: "#dev", modes: "+v", arguments: [], at: t0)) == .usage)
        #expect(refusal(d.mode(a, room: "#dev", modes: "+v", arguments: ["dave"], at: t0)) == .noSuchNick)
        // The changes before a refused one are made and told.
        let partly = kinds(d.mode(a, room: "#dev", modes: "+mx", arguments: [], at: t0))
        #expect(
            partly.count == 2 && partly[0] == .modeChange(room: "#dev", by: "alice", changes: [RoomModeChange(adding: true, letter: "m")]))
        // A query shows the flags; the key to members only.
        _ = d.mode(a, room: "#dev", modes: "+k", arguments: ["sesame"], at: t0)
        #expect(
            kinds(d.mode(b, room: "#dev", modes: nil, arguments: [], at: t0)) == [
                .modes(room: "#dev", modes: [.moderated, .noOutsideMessages], key: "sesame", createdAt: t0)
            ])
        _ = d.part(c, room: "#dev", reason: nil, at: t0)
        #expect(
            kinds(d.mode(c, room: "#dev", modes: nil, arguments: [], at: t0)) == [
                .modes(room: "#dev", modes: [.moderated, .noOutsideMessages], key: "*", createdAt: t0)
            ])
        // A role follows its holder through a nick change.
        _ = d.changeNick(b, to: "robert", at: t0)
        #expect(
            kinds(d.who(a, room: "#dev", at: t0)) == [
                .who(room: "#dev", members: ["alice", "robert"], roles: ["alice": .op, "robert": .op])
            ])
    }

    @Test("+t: only operators set the topic; +m: only operators and voiced members talk")
    func topicLockAndModeration() throws {
        var d = try room()
        #expect(refusal(d.topic(b, room: "#dev", text: "mine", at: t0)) == .opNeeded)
        #expect(refusal(d.topic(a, room: "#dev", text: "ours", at: t0)) == nil)
        #expect(refusal(d.topic(b, room: "#lobby", text: "anyone's", at: t0)) == nil, "the default room's topic is open")
        _ = d.mode(a, room: "#dev", modes: "+mv", arguments: ["carol"], at: t0)
        #expect(refusal(d.say(b, text: "hi", room: "#dev", at: t0)) == .moderated)
        #expect(refusal(d.say(b, text: "hi", room: "#dev", action: true, at: t0)) == .moderated)
        #expect(refusal(d.notice(b, to: "#dev", text: "hi", at: t0)) == .moderated)
        #expect(refusal(d.say(c, text: "hi", room: "#dev", at: t0)) == nil)
        #expect(refusal(d.say(a, text: "hi", room: "#dev", at: t0)) == nil)
        #expect(refusal(d.say(b, text: "hi", room: "#lobby", at: t0)) == nil)
    }

    @Test("+i and +k keep people out unless invited; an invitation is used up by the join")
    func inviteAndKey() throws {
        var d = try room()
        _ = d.part(c, room: "#dev", reason: nil, at: t0)
        _ = d.mode(a, room: "#dev", modes: "+ik", arguments: ["sesame"], at: t0)
        #expect(refusal(d.join(c, room: "#dev", at: t0)) == .inviteOnly)
        #expect(refusal(d.invite(b, nick: "carol", room: "#dev", at: t0)) == .opNeeded, "to an invite-only room, operators invite")
        #expect(refusal(d.invite(a, nick: "bob", room: "#dev", at: t0)) == .alreadyInRoom)
        let invited = d.invite(a, nick: "carol", room: "#dev", at: t0)
        #expect(
            invited == [
                .event(Event(id: d.newestEventID, time: t0, .invite(room: "#dev", from: "alice", to: "carol")), to: .session(c)),
                .event(Event(id: d.newestEventID, time: t0, .invite(room: "#dev", from: "alice", to: "carol")), to: .echo(a)),
            ])
        #expect(refusal(d.join(c, room: "#dev", at: t0)) == nil, "invited: past +i and +k")
        _ = d.part(c, room: "#dev", reason: nil, at: t0)
        #expect(refusal(d.join(c, room: "#dev", at: t0)) == .inviteOnly, "the invitation was used")
        _ = d.mode(a, room: "#dev", modes: "-i", arguments: [], at: t0)
        #expect(refusal(d.join(c, room: "#dev", at: t0)) == .badKey)
        #expect(refusal(d.join(c, room: "#dev", key: "wrong", at: t0)) == .badKey)
        #expect(refusal(d.join(c, room: "#dev", key: "sesame", at: t0)) == nil)
        // An open room: any member may invite.
        _ = d.join(b, room: "#open", at: t0)
        #expect(refusal(d.invite(b, nick: "carol", room: "#open", at: t0)) == nil)
    }

    @Test("online: those connected, as they are called, each once, with who is away; counts; away changes reach IRC co-members only")
    func presence() throws {
        var d = try room()
        _ = d.away(c, message: "lunch", at: t0)
        #expect(
            kinds(d.online(a, nicks: ["BOB", "nobody", "carol", "bob"], at: t0)) == [.online(nicks: ["bob", "carol"], away: ["carol"])])
        #expect(kinds(d.perform(.counts, by: a, at: t0)) == [.counts(users: 3, rooms: 2, peak: 3)])
        var mixed = Directory(limits: Limits(), defaultRoom: lobby, shardCount: 1)
        _ = try mixed.register(a, nick: "alice", shard: 0, kind: .irc, at: t0).get()
        _ = try mixed.register(b, nick: "bob", shard: 0, at: t0).get()
        _ = try mixed.register(c, nick: "carol", shard: 0, kind: .irc, at: t0).get()
        let out = mixed.away(b, message: "lunch", at: t0)
        #expect(out.count == 2)
        if case .event(let e, let audience) = out.last {
            #expect(e.kind == .awayChanged(nick: "bob", message: "lunch") && audience == .sessions([a, c]))
        }
        #expect(mixed.away(b, message: "lunch", at: t0).count == 1, "no change, nobody told")
    }

    @Test("mode strings: letters with their arguments in order; described back in IRC's form")
    func modeStrings() {
        let parsed = RoomModeChange.parse("+ok-v+t-k", ["bob", "key", "carol", "oldkey"])
        #expect(
            parsed.changes == [
                RoomModeChange(adding: true, letter: "o", argument: "bob"), RoomModeChange(adding: true, letter: "k", argument: "key"),
                RoomModeChange(adding: false, letter: "v", argument: "carol"), RoomModeChange(adding: true, letter: "t"),
                RoomModeChange(adding: false, letter: "k"),
            ])
        #expect(parsed.unknown == nil && parsed.missing == nil)
        #expect(RoomModeChange.describe(parsed.changes) == "+ok-v+t-k bob key carol")
        #expect(RoomModeChange.parse("+o", []).missing == "o")
        #expect(RoomModeChange.parse("+mz", []).unknown == "z")
        #expect(RoomRole([.op, .voice]).prefix() == "@" && RoomRole([.op, .voice]).prefix(all: true) == "@+")
    }

    @Test("text and JSON requests for kick, invite, mode, the role shortcuts and a join with a key")
    func parsing() {
        #expect(Command.parse(line: "/kick bob") == .success(.kick(room: nil, nick: "bob", reason: nil)))
        #expect(Command.parse(line: "/kick #dev bob go away") == .success(.kick(room: "#dev", nick: "bob", reason: "go away")))
        #expect(Command.parse(line: "/invite carol #dev") == .success(.invite(nick: "carol", room: "#dev")))
        #expect(Command.parse(line: "/mode") == .success(.mode(room: nil, modes: nil, arguments: [])))
        #expect(
            Command.parse(line: "/mode #dev +ov bob carol") == .success(.mode(room: "#dev", modes: "+ov", arguments: ["bob", "carol"])))
        #expect(Command.parse(line: "/op bob carol") == .success(.mode(room: nil, modes: "+oo", arguments: ["bob", "carol"])))
        #expect(Command.parse(line: "/devoice #dev bob") == .success(.mode(room: "#dev", modes: "-v", arguments: ["bob"])))
        #expect(Command.parse(line: "/join #dev sesame") == .success(.join("#dev", key: "sesame")))
        if case .failure(let error) = Command.parse(line: "/kick") { #expect(error.code == .usage) } else { Issue.record("accepted") }
        for command: Command in [
            .kick(room: "#dev", nick: "bob", reason: "spam"), .invite(nick: "carol", room: nil),
            .mode(room: "#dev", modes: "+ov", arguments: ["b", "c"]),
            .mode(room: nil, modes: nil, arguments: []), .join("#dev", key: "k"), .online(nicks: ["a", "b"]), .counts,
        ] {
            let request = JSONRequest(.command(command), correlation: "x")
            #expect(JSONRequest.parse(request.encoded) == .success(request))
        }
        #expect(
            JSONRequest.parse(Array(#"{"type":"mode","args":[1]}"#.utf8))
                == .failure(.badRequest("\"args\" must hold strings, got a number")))
    }

    @Test("the new events survive JSON both ways, roles included")
    func jsonEvents() throws {
        for kind: Event.Kind in [
            .who(room: "#dev", members: ["alice", "bob", "carol"], roles: ["alice": [.op, .voice], "bob": .voice]),
            .kick(room: "#dev", nick: "bob", by: "alice", reason: "spam"), .kick(room: "#dev", nick: "bob", by: "alice", reason: nil),
            .modeChange(
                room: "#dev", by: "alice",
                changes: [RoomModeChange(adding: true, letter: "o", argument: "bob"), RoomModeChange(adding: false, letter: "t")]),
            .modes(room: "#dev", modes: [.moderated, .noOutsideMessages], key: "k", createdAt: t0),
            .invite(room: "#dev", from: "alice", to: "carol"),
            .awayChanged(nick: "bob", message: "lunch"), .awayChanged(nick: "bob", message: nil),
            .online(nicks: ["bob", "carol"], away: ["carol"]), .counts(users: 3, rooms: 2, peak: 9),
            .modeChange(room: "#lobby", by: nil, changes: [RoomModeChange(adding: true, letter: "o", argument: "bob")]),
        ] {
            let event = Event(id: 7, time: t0, kind)
            #expect(try JSONFormat.parse(JSONFormat.render(event)).get() == event)
        }
        #expect(
            TextFormat.render(
                Event(
                    id: 1, time: t0,
                    .who(room: "#dev", members: ["alice", "bob", "carol"], roles: ["alice": [.op, .voice], "bob": .voice])))
                == "*** #dev (3 users): @alice, +bob, carol\r\n")
    }
}
