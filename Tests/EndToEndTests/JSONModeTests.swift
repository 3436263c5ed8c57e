import ChatCore
import Foundation
import Testing

/// The machine-readable mode: one JSON object per line, both ways.
@Suite("JSON mode")
struct JSONModeTests {
    @Test("a program says hello, gets well-formed events with ids and timestamps, and its replies carry its request id")
    func events() throws {
        let daemon = try Daemon()
        let human = try daemon.connect()
        try human.register("human")
        let bot = try daemon.connect()
        try bot.send(#"{"type":"hello","nick":"bot","id":"h1"}"# + "\n")
        let hello = try bot.expectJSON(type: "hello")
        #expect(hello["protocol"] == .integer(1))
        let welcome = try bot.expectJSON(type: "welcome")
        #expect(welcome["nick"] == .string("bot"))
        #expect(welcome["room"] == .string("#lobby"))
        #expect(welcome["re"] == .string("h1"))
        try bot.expectJSON(type: "join") { $0["nick"] == .string("bot") }
        let who = try bot.expectJSON(type: "who")
        #expect(who["members"] == .array([.string("bot"), .string("human")]))

        try human.line("hi bot")
        let message = try bot.expectJSON(type: "message")
        #expect(message["from"] == .string("human"))
        #expect(message["room"] == .string("#lobby"))
        #expect(message["text"] == .string("hi bot"))
        guard case .integer(let id)? = message["id"], case .string(let ts)? = message["ts"] else {
            Issue.record("message lacks id or ts: \(message)")
            return
        }
        #expect(id > welcome["id"].flatMap { if case .integer(let i) = $0 { i } else { nil } }!)
        #expect(ts.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"#, options: .regularExpression) != nil)

        // The bot's own message comes back as its confirmation, carrying its request id.
        try bot.send(#"{"type":"message","text":"beep \"quoted\"","id":7}"# + "\n")
        try human.expect(#"<bot> beep "quoted""#)
        let own = try bot.expectJSON(type: "message")
        #expect(own["from"] == .string("bot"))
        #expect(own["re"] == .integer(7), "an integer id comes back an integer")

        try bot.send(#"{"type":"private","to":"human","text":"psst"}"# + "\n")
        try human.expect("*bot* psst")
        try bot.expectJSON(type: "private") { $0["to"] == .string("human") }

        try bot.send(#"{"type":"rooms","id":"r"}"# + "\n")
        let rooms = try bot.expectJSON(type: "rooms")
        #expect(rooms["rooms"] == .array([.object(JSONObject([("name", .string("#lobby")), ("members", .integer(2))]))]))
        #expect(rooms["re"] == .string("r"))

        try human.line("/nick humane")
        try bot.expectJSON(type: "nick") { $0["old"] == .string("human") && $0["new"] == .string("humane") }
        try human.line("/quit")
        let quit = try bot.expectJSON(type: "quit")
        #expect(quit["nick"] == .string("humane"))
        #expect(quit["reason"] == .string("Quit"))
    }

    @Test("a request's id comes back to the requester only: the others in the room get the event without it")
    func idsStayWithTheirRequester() throws {
        let daemon = try Daemon()
        var bots: [Client] = []
        for name in ["asker", "peer"] {
            let bot = try daemon.connect()
            try bot.send(#"{"type":"hello","nick":"\#(name)"}"# + "\n")
            try bot.expectJSON(type: "welcome")
            bots.append(bot)
        }
        let (asker, peer) = (bots[0], bots[1])
        try asker.expectJSON(type: "join") { $0["nick"] == .string("peer") }
        // Requests whose answers the room sees too: a message (in a run with another's), a join,
        // a nick change.
        try peer.send(#"{"type":"message","text":"first","id":"p1"}"# + "\n")
        try asker.send(#"{"type":"message","text":"second","id":"a1"}"# + "\n")
        // The two messages may reach the room in either order: take both, then look at each.
        for bot in [peer, asker] {
            var seen: [String: JSONValue?] = [:]
            for _ in 0..<2 {
                let message = try bot.expectJSON(type: "message")
                seen[message["text"]?.stringValue ?? ""] = message["re"]
            }
            #expect(seen["first"] == .some(bot === peer ? .string("p1") : nil))
            #expect(seen["second"] == .some(bot === asker ? .string("a1") : nil))
        }
        try peer.send(##"{"type":"join","room":"#side"}"## + "\n")
        try peer.expectJSON(type: "who") { $0["room"] == .string("#side") }
        try asker.send(##"{"type":"join","room":"#side","id":"a2"}"## + "\n")
        #expect(try asker.expectJSON(type: "join") { $0["room"] == .string("#side") }["re"] == .string("a2"))
        #expect(try peer.expectJSON(type: "join") { $0["nick"] == .string("asker") }["re"] == nil)
        try asker.send(#"{"type":"nick","nick":"quizzer","id":"a3"}"# + "\n")
        #expect(try asker.expectJSON(type: "nick")["re"] == .string("a3"))
        #expect(try peer.expectJSON(type: "nick")["re"] == nil)
    }

    @Test("bad requests get an error event with a code, and the connection goes on")
    func badRequests() throws {
        let daemon = try Daemon()
        let bot = try daemon.connect()
        try bot.send(#"{"type":"hello"}"# + "\n")
        try bot.expectJSON(type: "nick_required")
        try bot.send(#"{"type":"message","text":"too early"}"# + "\n")
        #expect(try bot.expectJSON(type: "error")["code"] == .string("not_registered"))
        try bot.send(#"{"type":"nick","nick":"has space","id":1}"# + "\n")
        let invalid = try bot.expectJSON(type: "error")
        #expect(invalid["code"] == .string("nick_invalid"))
        #expect(invalid["re"] == .integer(1))
        // An id is echoed whole, up to 64 characters; a longer one is refused, not cut.
        let longest = String(repeating: "é", count: 64)
        try bot.send(#"{"type":"ping","id":"\#(longest)"}"# + "\n")
        #expect(try bot.expectJSON(type: "pong")["re"] == .string(longest))
        try bot.send(#"{"type":"ping","id":"\#(longest)x"}"# + "\n")
        #expect(try bot.expectJSON(type: "error")["message"] == .string(#"Bad request: "id" is too long: at most 64 characters"#))
        try bot.send(#"{"type":"launch"}"# + "\n")
        let unknown = try bot.expectJSON(type: "error")
        #expect(
            unknown["message"]?.stringValue?.hasPrefix(#"Unknown request type "launch". The types are action, away, counts, hello"#)
                == true,
            "\(unknown)"
        )
        try bot.send(#"{"type":"nick","nick":"bot"}"# + "\n")
        try bot.expectJSON(type: "welcome")
        for (request, code) in [
            ("not json at all", "bad_request"),
            (#"{"type":"message"}"#, "bad_request"),
            (#"{"type":"message","text":5}"#, "bad_request"),
            (#"{"type":"launch"}"#, "unknown_command"),
            (#"["type","message"]"#, "bad_request"),
            (##"{"type":"join","room":"#bad room!"}"##, "room_invalid"),
            (##"{"type":"part","room":"#nowhere"}"##, "no_such_room"),
        ] {
            try bot.send(request + "\n")
            let error = try bot.expectJSON(type: "error")
            #expect(error["code"] == .string(code), "\(request) → \(error)")
        }
        try bot.send(#"{"type":"ping","token":"t"}"# + "\n")
        #expect(try bot.expectJSON(type: "pong")["token"] == .string("t"))
    }

    @Test("every member of a room sees the room's messages in the same order")
    func roomOrder() throws {
        // Everyone sends at once: raise flood control, which this test is not about.
        let daemon = try Daemon(config: #"{"limits": {"floodRate": 10000, "floodBurst": 1000}}"#)
        var clients: [Client] = []
        for i in 0..<6 {
            let client = try daemon.connect()
            try client.send(#"{"type":"hello","nick":"n\#(i)"}"# + "\n")
            try client.expectJSON(type: "welcome")
            clients.append(client)
        }
        // Connections are spread over the event loops; everyone sends at once.
        let perSender = 40
        for round in 0..<perSender {
            for (i, client) in clients.enumerated() {
                try client.send(#"{"type":"message","text":"m\#(i)-\#(round)"}"# + "\n")
            }
        }
        var orders: [[String]] = []
        for client in clients {
            var seen: [String] = []
            while seen.count < perSender * clients.count {
                let message = try client.expectJSON(type: "message")
                if case .string(let text)? = message["text"] { seen.append(text) }
            }
            orders.append(seen)
        }
        for order in orders.dropFirst() { #expect(order == orders[0]) }
    }
}
