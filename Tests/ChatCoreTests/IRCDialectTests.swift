import Testing

@testable import ChatCore

@Suite("IRC dialect")
struct IRCDialectTests {
    func read(_ line: String, registered: Bool = true, state: inout DialectState) -> Reading {
        IRCDialect().read(Array(line.utf8), registered: registered, state: &state)
    }

    func read(_ line: String, registered: Bool = true) -> Reading {
        var state = DialectState.irc(IRCState())
        return read(line, registered: registered, state: &state)
    }

    @Test("a message: tags and prefix read past, the command in capitals, middle parameters, and the trailing one with its spaces")
    func parse() {
        #expect(
            IRCMessage(Array("@time=x;a=b :nick!u@h privmsg #dev :hello  there :)".utf8))
                == IRCMessage(command: "PRIVMSG", params: ["#dev", "hello  there :)"]))
        #expect(IRCMessage(Array("  JOIN   #a,#b   key ".utf8)) == IRCMessage(command: "JOIN", params: ["#a,#b", "key"]))
        #expect(IRCMessage(Array("TOPIC #dev :".utf8)) == IRCMessage(command: "TOPIC", params: ["#dev", ""]))
        #expect(IRCMessage(Array("".utf8)) == nil)
        #expect(IRCMessage(Array(":only.a.prefix".utf8)) == nil)
        let many = "CMD " + (1...20).map(String.init).joined(separator: " ")
        #expect(IRCMessage(Array(many.utf8))?.params.count == 15)
        #expect(IRCMessage(Array(many.utf8))?.params.last == "15 16 17 18 19 20")
    }

    @Test("registration waits for NICK, USER and the end of CAP negotiation, in any order")
    func registration() {
        var state = DialectState.irc(IRCState())
        #expect(
            read("CAP LS 302", registered: false, state: &state)
                == .reply(
                    .reply(
                        command: "CAP",
                        arguments: [
                            "LS",
                            "account-tag away-notify batch echo-message message-tags multi-prefix sasl=PLAIN server-time userhost-in-names",
                        ]),
                    re: nil))
        #expect(read("NICK alice", registered: false, state: &state) == .nothing)
        #expect(read("USER a 0 * :A", registered: false, state: &state) == .nothing)
        #expect(read("CAP END", registered: false, state: &state) == .hello(nick: "alice", client: nil, re: "NICK alice"))
        var plain = DialectState.irc(IRCState())
        #expect(read("USER a 0 * :A", registered: false, state: &plain) == .nothing)
        #expect(read("NICK bob", registered: false, state: &plain) == .hello(nick: "bob", client: nil, re: "NICK bob"))
        // Refused, the client tries another: that registers at once.
        #expect(read("NICK carol", registered: false, state: &plain) == .hello(nick: "carol", client: nil, re: "NICK carol"))
        #expect(read("PRIVMSG #a :x", registered: false) == .invalid(.refused(.notRegistered, "You have not registered"), re: "PRIVMSG"))
    }

    @Test("SASL PLAIN: the payload in chunks, checked by the server; CAP END waits for the answer; then 903 and the registration")
    func sasl() {
        var state = DialectState.irc(IRCState())
        #expect(
            read("CAP REQ :sasl", registered: false, state: &state) == .reply(.reply(command: "CAP", arguments: ["ACK", "sasl"]), re: nil))
        #expect(read("NICK dave", registered: false, state: &state) == .nothing)
        #expect(read("USER d 0 * :D", registered: false, state: &state) == .nothing)
        #expect(
            read("AUTHENTICATE SCRAM-SHA-256", registered: false, state: &state)
                == .reply(.reply(command: "SASLMECHS", arguments: []), re: nil))
        #expect(
            read("AUTHENTICATE PLAIN", registered: false, state: &state)
                == .reply(.reply(command: "AUTHENTICATE", arguments: ["+"]), re: nil))
        // A password long enough that the payload takes two chunks: 400 characters, then the rest.
        let password = String(repeating: "p", count: 320)
        let payload = Base64.encode(Array("\0dave\0\(password)".utf8))
        #expect(payload.utf8.count > 400)
        #expect(read("AUTHENTICATE \(payload.prefix(400))", registered: false, state: &state) == .nothing)
        #expect(
            read("AUTHENTICATE \(payload.dropFirst(400))", registered: false, state: &state)
                == .authenticate(account: "dave", password: Password(password)))
        #expect(read("CAP END", registered: false, state: &state) == .nothing, "registration waits for the answer")
        var irc = state.irc
        #expect(
            irc.authenticated("dave")
                == .several([
                    .reply(.reply(command: "SASL", arguments: ["ok", "dave"]), re: nil), .hello(nick: "dave", client: nil, re: "NICK dave"),
                ]))
        #expect(irc.account == "dave")
        // Someone else's identity, a broken payload, or sasl not negotiated: refused.
        var other = DialectState.irc(IRCState())
        _ = read("CAP REQ sasl", registered: false, state: &other)
        _ = read("AUTHENTICATE PLAIN", registered: false, state: &other)
        #expect(
            read("AUTHENTICATE \(Base64.encode(Array("admin\0dave\0pw".utf8)))", registered: false, state: &other)
                == .reply(.reply(command: "SASL", arguments: ["fail"]), re: nil))
        _ = read("AUTHENTICATE PLAIN", registered: false, state: &other)
        #expect(
            read("AUTHENTICATE !!!!", registered: false, state: &other) == .reply(.reply(command: "SASL", arguments: ["fail"]), re: nil))
        #expect(read("AUTHENTICATE PLAIN", registered: false) == .reply(.reply(command: "SASL", arguments: ["fail"]), re: nil))
        #expect(Base64.decode(Base64.encode(Array("any bytes \u{0}\u{1}é".utf8))) == Array("any bytes \u{0}\u{1}é".utf8))
        #expect(Base64.decode("abc") == nil && Base64.decode("a=bc") == nil && Base64.decode("") == [])
    }

    @Test("commands map onto chatd's: several channels at once, CTCP ACTION is /me, a private message, a topic cleared")
    func commands() {
        #expect(
            read("JOIN #a,#b,c")
                == .several([
                    .command(.join("#a"), re: "JOIN #a"), .command(.join("#b"), re: "JOIN #b"),
                    .invalid(.refused(.noSuchRoom, "No such channel"), re: "JOIN c"),
                ]))
        #expect(
            read("PRIVMSG #dev :\u{1}ACTION waves\u{1}") == .several([.command(.action(text: "waves", room: "#dev"), re: "PRIVMSG #dev")]))
        #expect(read("PRIVMSG bob :hi") == .several([.command(.privateMessage(to: "bob", text: "hi"), re: "PRIVMSG bob")]))
        #expect(read("PRIVMSG bob :\u{1}VERSION\u{1}") == .several([.nothing]))
        #expect(read("TOPIC #dev :") == .command(.topic(room: "#dev", text: ""), re: "TOPIC #dev"))
        #expect(read("TOPIC #dev") == .command(.topic(room: "#dev", text: nil), re: "TOPIC #dev"))
        #expect(
            read("PART #a,#b :so long")
                == .several([
                    .command(.part(room: "#a", reason: "so long"), re: "PART #a"),
                    .command(.part(room: "#b", reason: "so long"), re: "PART #b"),
                ]))
        #expect(read("QUIT") == .command(.quit(reason: nil), re: nil))
        #expect(read("WHO bob") == .command(.whois(nick: "bob"), re: "WHO bob"))
        #expect(read("WHOIS irc.example.org bob") == .command(.whois(nick: "bob"), re: "WHOIS bob"))
        #expect(read("SUMMON bob") == .invalid(.unknownCommand("SUMMON"), re: "SUMMON"))
        // An unknown command is said back (421) without its control bytes.
        #expect(read("\u{11}PRIV\u{1b}[2JMSG x") == .invalid(.unknownCommand("PRIVMSG"), re: "PRIVMSG"))
        // Targets: none is a usage error (never a crash), more than TARGMAX a refusal.
        #expect(read("PRIVMSG , :x") == .invalid(.usage(command: "PRIVMSG", usage: "<target> <text>"), re: "PRIVMSG"))
        #expect(read("PRIVMSG a,b,c,d,e :x") == .invalid(.refused(.tooManyTargets, "Too many targets"), re: "PRIVMSG e"))
        #expect(read("PART ,") == .invalid(.usage(command: "PART", usage: "<channel>"), re: "PART"))
        #expect(read("NOTICE ,") == .invalid(.usage(command: "NOTICE", usage: "<target> <text>"), re: "NOTICE"))
    }

    @Test("formatting codes go with their arguments; other control bytes are sanitized away")
    func formatting() {
        #expect(IRCDialect.clean("\u{2}bold\u{2} \u{3}4,12red\u{3} \u{3}07,x \u{4}FF00FFhex \u{1d}it\u{f}") == "bold red ,x hex it")
        #expect(!IRCDialect.clean("tab\there \u{1b}[31mansi \u{7f}").unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F })
    }

    @Test("splitting keeps whole characters and prefers spaces; every piece fits")
    func splitting() {
        let text = String(repeating: "héllo wörld ", count: 100)
        let pieces = IRCFormat.split(text, maxBytes: 100)
        #expect(pieces.allSatisfy { $0.utf8.count <= 100 })
        #expect(pieces.joined(separator: " ") == text)
        let unbroken = String(repeating: "é", count: 300)
        let cut = IRCFormat.split(unbroken, maxBytes: 101)
        #expect(cut.allSatisfy { $0.utf8.count <= 101 } && cut.joined() == unbroken)
    }

    @Test("numerics are addressed to the recipient, or * before it has a nick; a NOTICE's error is never sent")
    func numerics() {
        let dialect = IRCDialect()
        let error = Event(id: 1, time: Timestamp(milliseconds: 0), re: "PRIVMSG bob", .error(code: .noSuchNick, message: "x"))
        #expect(
            String(decoding: dialect.render(error, View(isAnswer: true), to: "alice"), as: UTF8.self).hasSuffix(
                " 401 alice bob :No such nick/channel\r\n"))
        let refused = Event(id: 1, time: Timestamp(milliseconds: 0), re: "NICK bob", .error(code: .nickInUse, message: "x"))
        #expect(
            String(decoding: dialect.render(refused, View(isAnswer: true), to: nil), as: UTF8.self).hasSuffix(
                " 433 * bob :Nickname is already in use\r\n"))
        let notice = Event(id: 1, time: Timestamp(milliseconds: 0), re: "NOTICE bob", .error(code: .noSuchNick, message: "x"))
        #expect(dialect.render(notice, View(isAnswer: true), to: "alice").isEmpty)
    }

    @Test("joining a room too big to list still ends with 366, which IRC clients wait for")
    func bigRoomJoin() {
        let notice = Event(
            id: 1, time: Timestamp(milliseconds: 0), re: "JOIN #big", .notice(text: "#big has 5000 users: /who #big lists them."))
        let lines = String(decoding: IRCDialect().render(notice, View(isAnswer: true), to: "alice"), as: UTF8.self)
        #expect(lines.hasSuffix(":chatd 366 alice #big :End of /NAMES list.\r\n"), "\(lines)")
        #expect(lines.hasPrefix(":chatd NOTICE alice :#big has 5000 users"))
    }
}
