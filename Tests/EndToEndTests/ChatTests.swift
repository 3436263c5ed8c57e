import ChatCore
import Foundation
import Testing

/// The chat protocol end to end: the built chatd, real sockets, clients as telnet and nc are.
@Suite("chat over TCP")
struct ChatTests {
    @Test("a greeting, a nick prompt, and refusal of a taken nick in any case or width")
    func nicknames() throws {
        let daemon = try Daemon(config: #"{"server": {"name": "testchat", "motd": ["Be nice."]}}"#)
        let alice = try daemon.connect()
        try alice.expect("*** Welcome to testchat (chatd 0.1.0).")
        try alice.expect("*** Be nice.")
        try alice.register("alice")

        let impostor = try daemon.connect()
        try impostor.expect("*** Please choose a nickname:")
        // The same, upper case, full-width, a capital I for the l, all-Cyrillic with a palochka,
        // a Latin dental click for the l.
        for taken in ["alice", "ALICE", "Ａｌｉｃｅ", "aIice", "\u{430}\u{4CF}\u{456}\u{441}\u{435}", "a\u{1C0}ice"] {
            try impostor.line(taken)
            #expect(try impostor.expect(containing: "Error") == "*** Error: The nickname alice is already in use.", "\(taken)")
            try impostor.expect("*** Please choose a nickname:")
        }
        try impostor.line("аlice")  // a Cyrillic а among Latin letters
        #expect(try impostor.expect(containing: "Error").contains("cannot mix alphabets"))
        try impostor.expect("*** Please choose a nickname:")
        // Invisible additions, blank letters, look-alikes of reserved names, stacked marks.
        for (nick, error) in [
            ("alice\u{34F}", "*** Error: A nickname cannot contain 'U+34F': use letters, digits and _-[]{}\\|^`."),
            ("alice\u{FE0F}", "*** Error: A nickname cannot contain 'U+FE0F': use letters, digits and _-[]{}\\|^`."),
            ("root\u{180B}", "*** Error: A nickname cannot contain 'U+180B': use letters, digits and _-[]{}\\|^`."),
            ("\u{3164}", "*** Error: A nickname cannot contain 'U+1160': use letters, digits and _-[]{}\\|^`."),  // its NFKC form
            ("\u{455}\u{435}\u{433}\u{475}\u{435}\u{433}", "*** Error: That nickname is reserved for the server."),
            ("a" + String(repeating: "\u{301}", count: 1000), "*** Error: A nickname cannot stack more than 2 accents on one letter."),
        ] {
            try impostor.line(nick)
            #expect(try impostor.expect(containing: "Error") == error, "\(nick.unicodeScalars.prefix(8).map(\.value))")
            try impostor.expect("*** Please choose a nickname:")
        }
        try impostor.line("bad nick")
        #expect(try impostor.expect(containing: "Error") == "*** Error: A nickname cannot contain spaces.")
        try impostor.expect("*** Please choose a nickname:")
        try impostor.line("9lives")
        #expect(try impostor.expect(containing: "Error").contains("cannot start with '9'"))
        try impostor.register("mallory", prompted: true)
        try alice.expect("*** mallory has joined #lobby")
    }

    @Test("a line reaches everyone else in the room, not the sender; /msg reaches only its target")
    func messagesAndPrivateMessages() throws {
        let daemon = try Daemon()
        let (alice, bob, carol) = try threeClients(daemon)

        try alice.line("hello everyone")
        try bob.expect("<alice> hello everyone")
        try carol.expect("<alice> hello everyone")
        try alice.expectNothingElse()

        try alice.line("/msg bob just for you")
        try bob.expect("*alice* just for you")
        try alice.expect("-> *bob* just for you")
        try carol.expectNothingElse()

        try alice.line("/msg nobody hi")
        try alice.expect("*** Error: There is nobody called nobody here.")
        try alice.line("//etc/passwd is a path")
        try bob.expect("<alice> /etc/passwd is a path")
        try alice.line("/me waves")
        try carol.expect("* alice waves")
    }

    @Test("join, part and quit notices, with reasons; rooms keep their traffic apart")
    func roomsAndNotices() throws {
        let daemon = try Daemon()
        let (alice, bob, carol) = try threeClients(daemon)

        try alice.line("/join #dev")
        try alice.expect("*** alice has joined #dev")
        try alice.expect("*** #dev (1 user): @alice")
        try bob.line("/join dev")  // the # is optional
        try bob.expect("*** bob has joined #dev")
        try alice.expect("*** bob has joined #dev")

        try alice.line("only for developers")
        try bob.expect("<alice> only for developers")
        try bob.line("/join #lobby")  // already a member: becomes the current room
        try bob.expect("*** Now talking in #lobby")
        try alice.line("still dev")
        try bob.expect("[#dev] <alice> still dev")
        try carol.expectNothingElse()

        try carol.line("/rooms")
        try carol.expect("*** Rooms (2): #dev (2), #lobby (3)")
        try carol.line("/who #dev")
        try carol.expect("*** #dev (2 users): @alice, bob")

        try alice.line("/part #dev see you")
        try bob.expect("*** alice has left #dev (see you)")
        try alice.expect("*** alice has left #dev (see you)")
        try alice.expect("*** Now talking in #lobby")

        try carol.line("/quit gone fishing")
        try carol.expect("*** Closing connection: Quit: gone fishing")
        #expect(try carol.readUntilClosed().isEmpty)
        try alice.expect("*** carol has quit (Quit: gone fishing)")
        try bob.expect("*** carol has quit (Quit: gone fishing)")
    }

    @Test("rooms above maxAnnouncedRoomSize are not told of joins and departures; smaller rooms still are")
    func quietBigRooms() throws {
        let daemon = try Daemon(config: #"{"limits": {"maxAnnouncedRoomSize": 2}}"#)
        let alice = try daemon.registered("alice")
        let bob = try daemon.registered("bob")
        try alice.expect("*** bob has joined #lobby")
        let carol = try daemon.registered("carol")
        try bob.line("/join #dev")
        try bob.expect("*** #dev (1 user): @bob")
        try carol.line("/join #dev")
        try bob.expect("*** carol has joined #dev")
        try alice.expectNothingElse()  // nor of carol joining the lobby
        // carol's quit reaches #dev (2 members), not the quiet #lobby (3); after it, the lobby
        // is small enough to hear of bob's departure again.
        try carol.line("/quit")
        try bob.expect("*** carol has quit (Quit)")
        try alice.expectNothingElse()
        try bob.line("/part #lobby")
        try alice.expect("*** bob has left #lobby")
        try alice.line("/who")
        try alice.expect("*** #lobby (1 user): alice")
    }

    @Test("/whois shows a client's rooms, connected-since, idle time and kind, in text and in JSON")
    func whois() throws {
        let daemon = try Daemon()
        let alice = try daemon.registered("alice")
        let bot = try daemon.connect()
        try bot.send(#"{"type":"hello","nick":"deploybot","client":"deploybot 2.1"}"# + "\n")
        _ = try bot.expectJSON(type: "welcome")
        try alice.expect("*** deploybot has joined #lobby")
        try alice.line("/join #dev")
        try alice.expect("*** alice has joined #dev")
        try alice.line("/whois deploybot")
        let line = try alice.expect(containing: "deploybot:")
        #expect(line.hasPrefix("*** deploybot: in #lobby; connected since 20"), "\(line)")
        #expect(line.hasSuffix("; idle 0s; client deploybot 2.1"), "\(line)")
        try bot.send(#"{"type":"whois","nick":"ALICE","id":"w1"}"# + "\n")
        let answer = try bot.expectJSON(type: "whois")
        #expect(answer.string("nick") == "alice" && answer.string("client") == "line" && answer.int("idleSeconds") == 0)
        #expect(answer["rooms"] == .array([.string("#lobby"), .string("#dev")]))
        #expect(answer.string("connectedAt").flatMap(Timestamp.init(iso8601:)) != nil)
        #expect(answer["re"] == .string("w1"))
        #expect(answer["address"] == nil)
        try alice.line("/whois nobody")
        try alice.expect("*** Error: There is nobody called nobody here.")
        try alice.expectNothingElse()
    }

    @Test("unknown commands get an error and are never broadcast; /help lists the commands")
    func unknownCommandsAndHelp() throws {
        let daemon = try Daemon()
        let (alice, bob, carol) = try threeClients(daemon)
        defer { withExtendedLifetime(carol) {} }
        try alice.line("/frobnicate now")
        try alice.expect(containing: "Error: Unknown command /frobnicate")
        try alice.line("/help")
        try alice.expect("*** Commands:")
        try alice.expect(containing: "/msg <nick> <text>")
        try alice.line("/join")
        try alice.expect("*** Error: Usage: /join <#room> [key]")
        try alice.line("visible")
        try bob.expect("<alice> visible")  // the first thing bob sees from alice
        #expect(!bob.received.contains { $0.contains("frobnicate") })
    }

    @Test("a telnet client sending IAC negotiation and CRLF chats normally")
    func telnetNegotiation() throws {
        let daemon = try Daemon()
        let (alice, bob, carol) = try threeClients(daemon)
        defer { withExtendedLifetime((bob, carol)) {} }
        let telnet = try daemon.connect()
        // IAC DO ECHO, IAC WILL NAWS, IAC SB NAWS 0 80 0 24 IAC SE, as a telnet client opens.
        try telnet.send([255, 253, 1, 255, 251, 31, 255, 250, 31, 0, 80, 0, 24, 255, 240])
        var received: [UInt8] = []
        func readUntil(_ text: String) throws {
            while true {
                let line = try #require(try telnet.readRawLine())
                received += line
                if String(decoding: line, as: UTF8.self).contains(text) { return }
            }
        }
        try readUntil("Please choose a nickname:")
        // Negotiation split mid-sequence, inside the nick line.
        try telnet.send([UInt8]("te".utf8) + [255])
        try telnet.send([253, 3] + [UInt8]("lnet\r\n".utf8))
        try readUntil("You are now known as telnet")
        // The refusals (IAC WONT ECHO, IAC DONT NAWS, IAC WONT SGA) came back; nothing else of them.
        for refusal: [UInt8] in [[255, 252, 1], [255, 254, 31], [255, 252, 3]] {
            #expect(received.indices.contains { received[$0...].starts(with: refusal) }, "no \(refusal)")
        }
        try alice.expect("*** telnet has joined #lobby")
        try telnet.send([UInt8]("hi ".utf8) + [255, 241] + [UInt8]("there\r\n".utf8))  // IAC NOP inside
        let line = try alice.readRawLine()!
        #expect(line == Array("<telnet> hi there".utf8))
    }

    @Test("a client that vanishes mid-line does not disturb the others")
    func disconnectMidLine() throws {
        let daemon = try Daemon()
        let (alice, bob, carol) = try threeClients(daemon)
        try carol.send("this line never ends")
        carol.abort()
        try alice.expect(timeout: 10, "carol's quit") { $0.hasPrefix("*** carol has quit (") }
        try bob.line("still here")
        try alice.expect("<bob> still here")
        #expect(!alice.received.contains { $0.contains("never ends") })
    }

    @Test("control sequences, invalid UTF-8 and overlong lines never reach another client")
    func hostileText() throws {
        let daemon = try Daemon(config: #"{"limits": {"maxLineBytes": 100}}"#)
        let (alice, bob, carol) = try threeClients(daemon)
        defer { withExtendedLifetime(carol) {} }
        try alice.send(
            [UInt8]("\u{1B}[2J\u{1B}]0;pwned\u{07}red \u{1B}[31mtext\u{1B}[0m \u{202E}gnp.exe ".utf8) + [0xC3, 0x28, 0x00, 0x07] + [13, 10])
        let line = try bob.readRawLine()!
        #expect(line == Array("<alice> red text gnp.exe \u{FFFD}(".utf8))

        try alice.line(String(repeating: "x", count: 500))
        try alice.expect("*** Error: Line too long: at most 100 bytes. It was not sent.")
        try alice.line("short again")
        try bob.expect("<alice> short again")
        #expect(!bob.received.contains { $0.contains("xxx") })
    }

    @Test("SIGTERM tells every client and exits 0")
    func gracefulShutdown() throws {
        let daemon = try Daemon()
        let (alice, bob, carol) = try threeClients(daemon)
        let json = try daemon.connect()
        try json.send(#"{"type":"hello","nick":"robot"}"# + "\n")
        try json.expectJSON(type: "welcome")
        #expect(try daemon.stop(signal: SIGTERM) == 0)
        for client in [alice, bob, carol] {
            try client.expect("*** Closing connection: Server shutting down")
            #expect(try client.readUntilClosed().isEmpty)
        }
        let bye = try json.expectJSON(type: "bye")
        #expect(bye["reason"] == .string("Server shutting down"))
        #expect(daemon.output.contains("all clients closed"))
    }

    @Test("lines sent together reach members in the room, members elsewhere and JSON members once each, in order")
    func linesSentTogether() throws {
        // One write of several lines: the sender's loop fans them out in one drain, together.
        let daemon = try Daemon(config: #"{"limits": {"floodRate": 1000, "floodBurst": 100}}"#)
        let sender = try daemon.registered("sender")
        // Three of each kind, connected one after another, so that each kind has a member on
        // every one of the test daemon's three loops, the sender's included.
        let here = try (0..<3).map { try daemon.registered("here\($0)") }
        let away = try (0..<3).map { i in
            let client = try daemon.registered("away\(i)")
            try client.line("/join #side")
            try client.expect(containing: "*** #side (\(i + 1) user")
            return client
        }
        let robots = try (0..<3).map { i in
            let client = try daemon.connect()
            try client.send(#"{"type":"hello","nick":"robot\#(i)"}"# + "\n")
            try client.expectJSON(type: "welcome")
            return client
        }
        // Everything before this point (join notices) is read past: the pong comes after it.
        for (i, client) in ([sender] + here + away).enumerated() {
            try client.line("/ping settled\(i)")
            try client.expect("*** pong settled\(i)")
        }
        for robot in robots {
            try robot.send(#"{"type":"ping","token":"settled"}"# + "\n")
            try robot.expectJSON(type: "pong")
        }

        let texts = ["one", "two", "three", "four", "five"]
        try sender.send(texts.map { $0 + "\r\n" }.joined())
        for client in here {
            for text in texts { #expect(try client.readLine() == "<sender> \(text)") }
            try client.expectNothingElse()
        }
        for client in away {
            for text in texts { #expect(try client.readLine() == "[#lobby] <sender> \(text)") }
            try client.expectNothingElse()
        }
        for robot in robots {
            for text in texts {
                let message = try robot.expectJSON(type: "message")
                #expect(message["text"] == .string(text))
                #expect(message["from"] == .string("sender"))
            }
            try robot.expectNothingElse(json: true)
        }
        try sender.expectNothingElse()
    }

    @Test("text members all see the room in one order, without their own lines, while everyone sends at once")
    func textRoomOrder() throws {
        let daemon = try Daemon(config: #"{"limits": {"floodRate": 10000, "floodBurst": 1000}}"#)
        let clients = try (0..<6).map { try daemon.registered("t\($0)") }
        for (i, client) in clients.enumerated() {
            try client.line("/ping settled\(i)")
            try client.expect("*** pong settled\(i)")
        }
        let perSender = 30
        for round in 0..<perSender {
            for (i, client) in clients.enumerated() {
                try client.send((0..<2).map { "m\(i)-\(round)-\($0)\r\n" }.joined())
            }
        }
        let expected = (clients.count - 1) * perSender * 2
        var orders: [[String]] = []
        for (i, client) in clients.enumerated() {
            var seen: [String] = []
            while seen.count < expected {
                guard let line = try client.readLine() else { throw TestFailure("t\(i) was closed after \(seen)") }
                seen.append(line)
            }
            #expect(!seen.contains { $0.hasPrefix("<t\(i)>") }, "t\(i) was sent its own lines")
            orders.append(seen)
        }
        // Any two members see the same order once each one's own lines are set aside.
        for i in clients.indices {
            for j in clients.indices where j > i {
                let withoutJ = orders[i].filter { !$0.hasPrefix("<t\(j)>") }
                let withoutI = orders[j].filter { !$0.hasPrefix("<t\(i)>") }
                #expect(withoutJ == withoutI, "t\(i) and t\(j) disagree on the order")
            }
        }
        for client in clients { try client.expectNothingElse() }
    }

    private func threeClients(_ daemon: Daemon) throws -> (Client, Client, Client) {
        let alice = try daemon.registered("alice")
        let bob = try daemon.registered("bob")
        try alice.expect("*** bob has joined #lobby")
        let carol = try daemon.registered("carol")
        try alice.expect("*** carol has joined #lobby")
        try bob.expect("*** carol has joined #lobby")
        return (alice, bob, carol)
    }
}
