import Foundation
import Testing

@testable import ChatCore

@Suite("command parsing")
struct CommandTests {
    @Test(
        "text lines parse into commands",
        arguments: [
            ("hello", Command.say(text: "hello", room: nil)),
            ("//slash", .say(text: "/slash", room: nil)),
            ("/nick bob", .nick("bob")),
            ("/NICK bob", .nick("bob")),
            ("/join #dev", .join("#dev")),
            ("/j dev", .join("dev")),
            ("/part", .part(room: nil, reason: nil)),
            ("/part #dev bye now", .part(room: "#dev", reason: "bye now")),
            ("/part so long", .part(room: nil, reason: "so long")),
            ("/rooms", .rooms),
            ("/list", .rooms),
            ("/who", .who(room: nil)),
            ("/who #dev", .who(room: "#dev")),
            ("/whois bob", .whois(nick: "bob")),
            ("/wi bob", .whois(nick: "bob")),
            ("/history", .history(room: nil, before: nil, after: nil, limit: nil)),
            ("/history #dev 5", .history(room: "#dev", before: nil, after: nil, limit: 5)),
            ("/history 99999", .history(room: nil, before: nil, after: nil, limit: 1_000)),
            ("/topic", .topic(room: nil, text: nil)),
            ("/topic #dev", .topic(room: "#dev", text: nil)),
            ("/topic Release  day", .topic(room: nil, text: "Release day")),
            ("/t #dev ship it #now", .topic(room: "#dev", text: "ship it #now")),
            ("/topic -delete", .topic(room: nil, text: "")),
            ("/topic -DELETE #dev", .topic(room: "#dev", text: "")),
            ("/msg bob  hi there ", .privateMessage(to: "bob", text: "hi there")),
            ("/me waves", .action(text: "waves", room: nil)),
            ("/quit", .quit(reason: nil)),
            ("/quit see you", .quit(reason: "see you")),
            ("/help join", .help(topic: "join")),
            ("/ping abc", .ping(token: "abc")),
        ])
    func parses(line: String, command: Command) {
        #expect(Command.parse(line: line) == .success(command))
    }

    @Test("blank lines are ignored; bad commands are errors with usage")
    func errors() {
        #expect(Command.parse(line: "   ") == nil)
        #expect(Command.parse(line: "/dance") == .failure(.unknownCommand("dance")))
        #expect(Command.parse(line: "/msg bob") == .failure(.usage(command: "msg", usage: "<nick> <text>")))
        #expect(Command.parse(line: "/nick a b") == .failure(.usage(command: "nick", usage: "<new-nick>")))
        #expect(Command.parse(line: "/me") == .failure(.usage(command: "me", usage: "<action>")))
        #expect(Command.parse(line: "/whois") == .failure(.usage(command: "whois", usage: "<nick>")))
        #expect(Command.parse(line: "/whois a b") == .failure(.usage(command: "whois", usage: "<nick>")))
        #expect(Command.parse(line: "/history dev") == .failure(.usage(command: "history", usage: "[#room] [lines]")))
        #expect(Command.parse(line: "/history 5 #dev") == .failure(.usage(command: "history", usage: "[#room] [lines]")))
        #expect(Command.parse(line: "/topic -delete #dev now") == .failure(.usage(command: "topic", usage: "[-delete] [#room] [text]")))
    }

    @Test("JSON requests parse, with their correlation id")
    func json() throws {
        func parse(_ s: String) -> Result<JSONRequest, CommandError> { JSONRequest.parse(Array(s.utf8)) }
        #expect(parse(#"{"type":"hello","nick":"bot"}"#) == .success(JSONRequest(.hello(nick: "bot"))))
        #expect(
            parse(##"{"type":"message","room":"#dev","text":"hi","id":"x"}"##)
                == .success(JSONRequest(.command(.say(text: "hi", room: "#dev")), correlation: "x")))
        #expect(
            parse(#"{"type":"private","to":"bob","text":"\u001b[2Jhi"}"#)
                == .success(JSONRequest(.command(.privateMessage(to: "bob", text: "hi")))))
        #expect(parse(#"{"type":"message"}"#) == .failure(.badRequest(#"missing member "text" for type "message""#)))
        #expect(
            parse(#"{"type":"whois","nick":"bob","id":1}"#)
                == .success(JSONRequest(.command(.whois(nick: "bob")), correlation: .integer(1))))
        #expect(parse(#"{"type":"whois"}"#) == .failure(.badRequest(#"missing member "nick" for type "whois""#)))
        #expect(
            parse(##"{"type":"history","room":"#dev","before":40,"limit":2}"##)
                == .success(JSONRequest(.command(.history(room: "#dev", before: 40, after: nil, limit: 2)))))
        // A gap: after one id and before another (a client catching up).
        #expect(
            parse(#"{"type":"history","before":4,"after":2}"#)
                == .success(JSONRequest(.command(.history(room: nil, before: 4, after: 2, limit: nil)))))
        #expect(parse(##"{"type":"topic","room":"#dev"}"##) == .success(JSONRequest(.command(.topic(room: "#dev", text: nil)))))
        #expect(parse(##"{"type":"topic","text":""}"##) == .success(JSONRequest(.command(.topic(room: nil, text: "")))))
        #expect(parse(##"{"type":"topic","text":7}"##) == .failure(.badRequest(#""text" must be a string, got a number"#)))
        #expect(parse(#"{"type":"history","limit":"2"}"#) == .failure(.badRequest(#""limit" must be a non-negative integer, got "2""#)))
        #expect(parse(#"{"type":"rooms","extra":1}"#) == .failure(.badRequest(#"unknown member "extra" for type "rooms""#)))
        #expect(parse(#"{"type":"fly"}"#) == .failure(.unknownType("fly")))
        #expect(!CommandError.unknownType("fly").description.contains("//"), "JSON's own wording, not text mode's")
        #expect(try parse(#"{"type":"rooms","id":42}"#).get().correlation == .integer(42))
        let longest = String(repeating: "x", count: 64)
        #expect(try parse(#"{"type":"rooms","id":"\#(longest)"}"#).get().correlation == .string(longest))
        #expect(parse(#"{"type":"rooms","id":"\#(longest)y"}"#) == .failure(.badRequest(#""id" is too long: at most 64 characters"#)))
        // A request encodes its id with its type, and parses back the same.
        let request = JSONRequest(.command(.rooms), correlation: .integer(-3))
        #expect(JSONRequest.parse(request.encoded) == .success(request))
        #expect(parse(##"{"type":"join","room":"#a","room":"#b"}"##).isFailure)
    }
}

@Suite("wire formats")
struct FormatTests {
    let t = Timestamp(milliseconds: 1_795_305_599_123)

    @Test("timestamps are RFC 3339 UTC with milliseconds")
    func timestamps() {
        #expect(Timestamp(milliseconds: 0).iso8601 == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp(milliseconds: 951_782_400_000).iso8601 == "2000-02-29T00:00:00.000Z")
        #expect(t.iso8601 == "2026-11-21T23:59:59.123Z")
    }

    @Test("text lines end in CRLF and mark other rooms")
    func text() {
        let message = Event(id: 1, time: t, .message(room: "#dev", from: "alice", text: "hi"))
        #expect(TextFormat.render(message) == "<alice> hi\r\n")
        #expect(TextFormat.render(message, inCurrentRoom: false) == "[#dev] <alice> hi\r\n")
        #expect(TextFormat.render(Event(id: 2, time: t, .quit(nick: "bob", reason: "Quit"))) == "*** bob has quit (Quit)\r\n")
    }

    @Test("JSON events round-trip through the parser with escaping intact")
    func json() throws {
        let event = Event(id: 42, time: t, re: "r", .message(room: "#dev", from: "alice", text: "quote \" slash \\ line\u{2028}end"))
        let line = JSONFormat.render(event)
        #expect(line.last == UInt8(ascii: "\n"))
        let parsed = try JSONValue.parse(bytes: Array(line.dropLast()))
        #expect(parsed["type"] == .string("message"))
        #expect(parsed["id"] == .integer(42))
        #expect(parsed["text"] == .string("quote \" slash \\ line\u{2028}end"))
        #expect(parsed["re"] == .string("r"))
        #expect(!String(decoding: line, as: UTF8.self).contains("\u{2028}"))
    }
}

@Suite("JSON parser")
struct JSONParserTests {
    @Test("values, escapes and surrogate pairs")
    func values() throws {
        let value = try JSONValue.parse(#"{"a":[1,-2.5e3,true,false,null],"s":"\u00e9\ud83d\ude00\n"}"#)
        #expect(value["a"] == .array([.integer(1), .double(-2500), .bool(true), .bool(false), .null]))
        #expect(value["s"] == .string("é😀\n"))
    }

    @Test(
        "malformed documents are refused with a position",
        arguments: ["", "{", "[1,]", "{\"a\" 1}", "01", "\"\\x\"", "\"\u{1}\"", "{\"a\":1}x", "\"\\ud800\"", "nul"])
    func refusals(text: String) {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(text) }
    }

    @Test("deep nesting is refused, not recursed into")
    func depth() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse(String(repeating: "[", count: 100_000)) }
        #expect((try? JSONValue.parse(String(repeating: "[", count: 64) + String(repeating: "]", count: 64))) != nil)
    }

    @Test("random bytes never trap", arguments: 0..<10)
    func neverTraps(seed: Int) {
        var rng = SplitMix(seed: UInt64(seed))
        let alphabet = Array(#"{}[]:,"\ 0123456789.eE+-truefalsn"#.utf8)
        for _ in 0..<500 {
            let bytes = (0..<Int(rng.next() % 40)).map { _ in alphabet[Int(rng.next() % UInt64(alphabet.count))] }
            _ = try? JSONValue.parse(bytes: bytes)
            _ = JSONRequest.parse(bytes)
        }
    }
}

extension Result {
    var isFailure: Bool {
        if case .failure = self { return true }
        return false
    }
}

@Suite("client-side encoding and decoding")
struct ClientWireTests {
    @Test("every request encodes to a line the server parses back to the same request")
    func requestRoundTrip() throws {
        let commands: [Command] = [
            .say(text: "hi \"there\"", room: "#dev"), .say(text: "x", room: nil), .action(text: "waves", room: nil),
            .privateMessage(to: "bob", text: "psst"), .nick("carol"), .join("#dev"), .part(room: "#dev", reason: "bye"),
            .part(room: nil, reason: nil), .rooms, .who(room: nil), .who(room: "#x"), .whois(nick: "bob"), .help(topic: "join"),
            .history(room: "#dev", before: 12, after: nil, limit: 3), .history(room: nil, before: nil, after: 7, limit: nil),
            .history(room: "#dev", before: 30, after: 7, limit: 1_000), .topic(room: nil, text: nil), .topic(room: "#dev", text: "x \"y\""),
            .topic(room: "#dev", text: ""),
            .quit(reason: "gone"),
            .ping(token: "t1"), .away(message: "lunch"), .away(message: nil), .notice(to: "#dev", text: "n"),
            .notice(to: "bob", text: "n"),
        ]
        var requests = commands.map { JSONRequest(.command($0), correlation: "c1") }
        requests += [
            JSONRequest(.hello(nick: "alice"), correlation: "7"), JSONRequest(.hello(nick: nil)),
            JSONRequest(.hello(nick: "bot", client: "deploybot 2.1")),
        ]
        for request in requests {
            #expect(try JSONRequest.parse(request.encoded).get() == request)
        }
    }

    @Test("every event renders to a line the clients parse back to the same event")
    func eventRoundTrip() throws {
        let kinds: [Event.Kind] = [
            .hello(server: "chatd", version: "0.1.0", motd: ["hi"]), .nickRequired, .welcome(nick: "a", room: "#lobby"),
            .message(room: "#r", from: "a", text: "t"), .action(room: "#r", from: "a", text: "t"),
            .privateMessage(from: "a", to: "b", text: "t"), .join(room: "#r", nick: "a"), .part(room: "#r", nick: "a", reason: nil),
            .part(room: "#r", nick: "a", reason: "why"), .quit(nick: "a", reason: "Quit"), .nickChange(old: "a", new: "b"),
            .current(room: "#r"), .notice(text: "n"), .announcement(text: "x", room: nil), .announcement(text: "x", room: "#r"),
            .error(code: .usage, message: "m"), .who(room: "#r", members: ["a", "b"]),
            .whois(
                Whois(
                    nick: "a", rooms: ["#r", "#s"], connectedAt: Timestamp(milliseconds: 1_763_770_000_000), idleSeconds: 75,
                    client: "chat 0.1.0")),
            .whois(Whois(nick: "b", rooms: [], connectedAt: Timestamp(milliseconds: 0), idleSeconds: 0, client: "line")),
            .whois(Whois(nick: "c", rooms: [], connectedAt: Timestamp(milliseconds: 0), idleSeconds: 0, client: "irc", away: "lunch")),
            .awaySet(message: "lunch"), .awaySet(message: nil), .away(nick: "c", message: "lunch"),
            .userNotice(from: "a", to: "#r", text: "n"), .userNotice(from: "a", to: "b", text: "n"),
            .history(
                room: "#r",
                lines: [
                    HistoryRecord(
                        id: 3, time: Timestamp(milliseconds: 5), room: "#r", roomKey: "#r", from: "a", text: "t", isAction: false),
                    HistoryRecord(id: 4, time: Timestamp(milliseconds: 6), room: "#r", roomKey: "#r", from: "b", text: "w", isAction: true),
                ]),
            .topic(
                room: "#r", topic: RoomTopic(text: "ship it", setBy: "a", setAt: Timestamp(milliseconds: 1_763_770_000_000)), changedBy: nil
            ),
            .topic(room: "#r", topic: RoomTopic(text: "ship it", setBy: "a", setAt: Timestamp(milliseconds: 7)), changedBy: "a"),
            .topic(room: "#r", topic: nil, changedBy: "b"), .topic(room: "#r", topic: nil, changedBy: nil),
            .rooms([RoomSummary(name: "#r", members: 2), RoomSummary(name: "#s", members: 1, topic: "t")]), .help(["a", "b"]),
            .pong(token: nil), .pong(token: "t"), .bye(reason: "Quit"),
        ]
        for kind in kinds {
            let event = Event(id: 42, time: Timestamp(milliseconds: 1_763_770_000_123), re: "c3", kind)
            let line = Array(JSONFormat.render(event).dropLast())
            #expect(try JSONFormat.parse(line).get() == event)
        }
    }

    @Test("a malformed event is an error with a reason, not a crash")
    func badEvents() {
        for text in [
            #"[]"#, #"{"type":"message"}"#, #"{"type":"nope","id":1,"ts":"2026-11-22T01:00:00.000Z"}"#, #"{"type":"who","id":1,"ts":"x"}"#,
            "{",
        ] {
            #expect(throws: JSONParseError.self) { try JSONFormat.parse(Array(text.utf8)).get() }
        }
    }
}

@Suite("dialects")
struct DialectTests {
    let message = Event(id: 7, time: Timestamp(milliseconds: 0), re: "r1", .message(room: "#dev", from: "alice", text: "hi"))

    @Test("a first line that is a JSON object claims JSON; anything else stays with the listener's dialect")
    func claiming() {
        #expect(Dialects.claiming(firstLine: Array(#"  {"type":"hello"}"#.utf8)) == .json)
        #expect(Dialects.claiming(firstLine: Array("alice".utf8)) == nil)
        #expect(
            Dialects.all.count == 3 && DialectID.text.dialect is TextDialect && DialectID.json.dialect is JSONDialect
                && DialectID.irc.dialect is IRCDialect)
    }

    @Test("text renders the room prefix elsewhere and the sender's own private message; never a request id")
    func text() {
        let text = DialectID.text.dialect
        #expect(text.render(message, View()) == Array("<alice> hi\r\n".utf8))
        #expect(text.render(message, View(inCurrentRoom: false)) == Array("[#dev] <alice> hi\r\n".utf8))
        #expect(text.canonical(View(inCurrentRoom: false, isAnswer: true)) == View(inCurrentRoom: false))
        let pm = Event(id: 8, time: Timestamp(milliseconds: 0), .privateMessage(from: "alice", to: "bob", text: "psst"))
        #expect(text.render(pm, View(isEcho: true)) == Array("-> *bob* psst\r\n".utf8))
        #expect(text.render(pm, View()) == Array("*alice* psst\r\n".utf8))
        let bye = Event(id: 9, time: Timestamp(milliseconds: 0), .bye(reason: "The server is full.", code: .refused))
        #expect(text.renderRefusal(bye) == Array("*** The server is full.\r\n".utf8))
        #expect(text.read(Array("alice".utf8), registered: false) == .command(.nick("alice"), re: nil))
        #expect(text.read(Array("alice".utf8), registered: true) == .command(.say(text: "alice", room: nil), re: nil))
    }

    @Test("JSON gives the request id to the one who asked only, and renders the same wherever the reader is")
    func json() throws {
        let json = DialectID.json.dialect
        let answer = try JSONFormat.parse(Array(json.render(message, View(isAnswer: true)).dropLast())).get()
        let seen = try JSONFormat.parse(Array(json.render(message, View()).dropLast())).get()
        #expect(answer.re == "r1" && seen.re == nil)
        #expect(json.canonical(View(inCurrentRoom: false, isEcho: true)) == View())
        #expect(
            json.read(Array(#"{"type":"hello","nick":"bot","client":"ci","id":2}"#.utf8), registered: false)
                == .hello(nick: "bot", client: "ci", re: .integer(2)))
        let bye = Event(id: 9, time: Timestamp(milliseconds: 0), .bye(reason: "full", code: .refused))
        #expect(try JSONFormat.parse(Array(json.renderRefusal(bye).dropLast())).get() == bye)
    }
}

@Suite("error codes")
struct ErrorCodeTests {
    @Test("every code is typed in the core, documented in PROTOCOL.md, and an unknown one still decodes")
    func codes() throws {
        let protocolDoc = try String(
            contentsOfFile: URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/PROTOCOL.md")
                .path,
            encoding: .utf8)
        for code in ErrorCode.all {
            #expect(protocolDoc.contains("`\(code.rawValue)`"), "\(code) is not in docs/PROTOCOL.md")
        }
        let line = #"{"type":"error","id":1,"ts":"2026-12-03T10:00:00.000Z","code":"from_the_future","message":"m"}"#
        #expect(try JSONFormat.parse(Array(line.utf8)).get().kind == .error(code: ErrorCode(rawValue: "from_the_future"), message: "m"))
        #expect(NickError.inUse("alice").code == .nickInUse && NickError.inUse("alice").code.isNickRefusal)
        #expect(!ErrorCode.noSuchNick.isNickRefusal)
    }
}
