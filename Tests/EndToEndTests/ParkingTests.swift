import ChatCore
import Foundation
import Testing

/// Idle connections leave their event loop for the parking lot (`limits.parkIdleSeconds`) and
/// come back when they speak. Nothing about it may be visible to a client. Parking is awaited
/// through chatd's debug log ("… parked"), never slept for.
@Suite("parking idle connections")
struct ParkingTests {
    @Test("a parked client gets room traffic, keeps its nick, rooms and current room, and comes back when it speaks")
    func parkedClientCarriesOn() throws {
        let daemon = try Daemon(config: #"{"limits": {"parkIdleSeconds": 1}}"#)
        let alice = try daemon.registered("alice")
        let bob = try daemon.registered("bob")
        try alice.expect("*** bob has joined #lobby")
        try bob.line("/join #dev")
        try bob.expect("*** #dev (1 user): @bob")
        try daemon.waitForParked("alice")
        try daemon.waitForParked("bob")
        #expect(try daemon.chatctl(["--json", "stats"]).out.contains(#""parked":2"#))
        #expect(try daemon.chatctl(["stats"]).out.contains("connections:  2 (parked 2; chat=2)"))

        // alice speaks (and comes back); bob hears it while parked, written straight to its socket.
        try alice.line("hello while you sleep")
        try bob.expect("[#lobby] <alice> hello while you sleep")
        #expect(daemon.count(of: "resumed from the parking lot", nick: "bob") == 0)

        // bob speaks: the same session, in the same rooms, #dev still its current room.
        try bob.line("/who")
        try bob.expect("*** #dev (1 user): @bob")
        // The log comes through a pipe, so it can trail the reply: wait for the line.
        try daemon.waitForLog { _ in daemon.count(of: "resumed from the parking lot", nick: "bob") >= 1 }
        #expect(daemon.count(of: "resumed from the parking lot", nick: "bob") == 1)
        try bob.line("/part #dev")
        try bob.expect("*** bob has left #dev")
        try bob.line("back again")
        try alice.expect("<bob> back again")
        // And it is parked again once it is quiet.
        try daemon.waitForParked("bob", count: 2)
        try alice.line("/msg bob still there?")
        try bob.expect("*alice* still there?")
    }

    @Test("a parked program stays in JSON mode and its replies carry its request ids")
    func parkedJSONClient() throws {
        let daemon = try Daemon(config: #"{"limits": {"parkIdleSeconds": 1}}"#)
        let human = try daemon.registered("human")
        let bot = try daemon.connect()
        try bot.send(#"{"type":"hello","nick":"bot"}"# + "\n")
        try bot.expectJSON(type: "who")
        try daemon.waitForParked("bot")
        try human.line("are you awake?")
        let message = try bot.expectJSON(type: "message")
        #expect(message["text"] == .string("are you awake?"))
        try bot.send(#"{"type":"who","id":"w1"}"# + "\n")
        let who = try bot.expectJSON(type: "who")
        #expect(who["re"] == .string("w1"))
        #expect(who["members"] == .array([.string("bot"), .string("human")]))
    }

    @Test("kicks, hang-ups and shutdown reach parked clients, and their rooms are told")
    func parkedClientsLeave() throws {
        let daemon = try Daemon(config: #"{"limits": {"parkIdleSeconds": 1}}"#)
        let alice = try daemon.registered("alice")
        let bob = try daemon.registered("bob")
        let carol = try daemon.registered("carol")
        try alice.expect("*** carol has joined #lobby")
        for nick in ["alice", "bob", "carol"] { try daemon.waitForParked(nick) }

        #expect(try daemon.chatctl(["kick", "bob", "napping"]).status == 0)
        try bob.expect("*** Closing connection: Kicked by an operator: napping")
        #expect(try bob.readUntilClosed().isEmpty)
        try alice.expect("*** bob has quit (Kicked by an operator: napping)")

        carol.abort()  // a reset, while parked
        try alice.expect(containing: "*** carol has quit (")
        #expect(try daemon.chatctl(["--json", "stats"]).out.contains(#""connections":1"#))

        try daemon.waitForParked("alice", count: 1)
        #expect(try daemon.stop() == 0)
        try alice.expect("*** Closing connection: Server shutting down")
        #expect(try alice.readUntilClosed().isEmpty)
    }

    @Test("a client with half a line is not parked, and its line arrives whole")
    func halfALineStaysOnTheLoop() throws {
        // One loop: one sweep looks at every connection.
        let daemon = try Daemon(config: #"{"limits": {"parkIdleSeconds": 1}}"#, extraArguments: ["--event-loops", "1"])
        let alice = try daemon.registered("alice")
        let bob = try daemon.registered("bob")
        try bob.send("half a li")
        // carol arrives after bob's last byte: once she is parked, bob was idle long enough too.
        let carol = try daemon.registered("carol")
        try daemon.waitForParked("carol")
        #expect(daemon.count(of: "parked", nick: "bob") == 0)
        try bob.send("ne\r\n")
        try alice.expect("<bob> half a line")
        withExtendedLifetime(carol) {}
    }

    @Test("parkIdleSeconds is read live: a reload from 0 to 1 parks a client idle since before it")
    func parkingFollowsReload() throws {
        let daemon = try Daemon(config: #"{"limits": {"parkIdleSeconds": 0}}"#, extraArguments: ["--event-loops", "1"])
        let alice = try daemon.registered("alice")
        try #"{"limits": {"parkIdleSeconds": 1}}"#.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        #expect(try daemon.chatctl(["reload"]).status == 0)
        try daemon.waitForParked("alice")
        withExtendedLifetime(alice) {}
    }
}

extension Daemon {
    /// Waits until chatd has logged parking `nick` `count` times.
    func waitForParked(_ nick: String, count: Int = 1, timeout: Double = 10) throws {
        try waitForLog(timeout: timeout) { Self.count(of: "parked", nick: nick, in: $0) >= count }
    }

    /// How many log lines for `nick` end with `event`.
    func count(of event: String, nick: String) -> Int {
        Self.count(of: event, nick: nick, in: output)
    }

    private static func count(of event: String, nick: String, in log: String) -> Int {
        log.split(separator: "\n").filter { $0.contains("nick=\(nick) ") && $0.hasSuffix(" " + event) }.count
    }
}
