import ChatCore
import Foundation
import Testing

/// An IRC client on a raw socket: what it sends and reads are IRC lines, byte for byte.
final class IRCClient {
    let tcp: Client
    let nick: String

    /// Connects, registers as `nick` (`NICK`, `USER`) and reads through the welcome, the MOTD
    /// and the default room's `JOIN` and names.
    init(port: Int, nick: String, source: String? = nil) throws {
        tcp = try Client(port: port, source: source)
        self.nick = nick
        try send("NICK \(nick)")
        try send("USER \(nick) 0 * :\(nick) the tester")
        try expect(":chatd 001 \(nick) :Welcome to the chatd IRC Network, \(nick)")
        try expect(":chatd 366 \(nick) #lobby :End of /NAMES list.")
    }

    init(unregisteredPort port: Int) throws {
        tcp = try Client(port: port)
        nick = "*"
    }

    func send(_ line: String) throws { try tcp.line(line) }

    /// Reads until the line `text`; returns the lines before it.
    @discardableResult
    func expect(_ text: String, timeout: Double = 10) throws -> [String] {
        var before: [String] = []
        try tcp.expect(timeout: timeout, "\"\(text)\"") { line in
            if line == text { return true }
            before.append(line)
            return false
        }
        return before
    }

    /// Reads until a line starting with `prefix`.
    @discardableResult
    func expect(prefix: String, timeout: Double = 10) throws -> String {
        try tcp.expect(timeout: timeout, "a line starting \"\(prefix)\"") { $0.hasPrefix(prefix) }
    }

    /// Reads until a line ending with `suffix` (after its tags).
    @discardableResult
    func expect(suffix: String, timeout: Double = 10) throws -> String {
        try tcp.expect(timeout: timeout, "a line ending \"\(suffix)\"") { $0.hasSuffix(suffix) }
    }

    /// Proves nothing else is waiting: the answer to a PING comes next.
    func expectNothingElse() throws {
        let token = "sync\(UInt32.random(in: 0...UInt32.max))"
        try send("PING \(token)")
        let next = try tcp.readLine()
        guard next == ":chatd PONG chatd :\(token)" else { throw TestFailure("expected only the PONG, got: \(next ?? "end of stream")") }
    }
}

@Suite("IRC listener")
struct IRCTests {
    func daemon(_ config: String = "{}") throws -> (Daemon, Int) {
        let daemon = try Daemon(config: config, extraArguments: ["--irc-listen", "127.0.0.1:0", "--no-web"])
        return (daemon, try daemon.ircPort())
    }

    @Test("registration: CAP LS holds it until CAP END; 001-005 tell the truth; the MOTD; the default room's JOIN and names")
    func registration() throws {
        let (daemon, port) = try daemon(#"{"irc": {"serverName": "chatd", "network": "TestNet"}, "limits": {"maxNickLength": 20}}"#)
        let irc = try IRCClient(unregisteredPort: port)
        try irc.send("CAP LS 302")
        try irc.expect(
            ":chatd CAP * LS :account-tag away-notify batch echo-message message-tags multi-prefix sasl=PLAIN server-time userhost-in-names"
        )
        try irc.send("PING early")
        try irc.expect(":chatd PONG chatd :early")
        try irc.send("JOIN #dev")
        try irc.expect(":chatd 451 * :You have not registered")
        try irc.send("USER alice")
        try irc.expect(":chatd 461 * USER :Not enough parameters")
        try irc.send("NICK alice")
        try irc.send("USER alice 0 * :Alice Liddell")
        try irc.send("CAP REQ :draft/chathistory")
        try irc.expect(":chatd CAP * NAK :draft/chathistory")
        try irc.expectNothingElse()  // still negotiating: no welcome yet
        try irc.send("CAP END")
        try irc.expect(":chatd 001 alice :Welcome to the TestNet IRC Network, alice")
        try irc.expect(prefix: ":chatd 002 alice :Your host is chatd, running version chatd-")
        try irc.expect(prefix: ":chatd 003 alice :This server was created ")
        try irc.expect(prefix: ":chatd 004 alice chatd chatd-")
        let isupport = try irc.expect(prefix: ":chatd 005 alice ")
        for token in [
            "CASEMAPPING=rfc8265", "CHANTYPES=#", "NICKLEN=20", "NETWORK=TestNet", "TOPICLEN=300", "UTF8ONLY", "PREFIX=(ov)@+",
            "CHANMODES=,k,,imnt", "MODES=4",
        ] {
            #expect(isupport.contains(" \(token) "), "\(token) in \(isupport)")
        }
        #expect(isupport.hasSuffix(" :are supported by this server"))
        try irc.expect(":chatd 375 alice :- chatd Message of the day - ")
        try irc.expect(":chatd 376 alice :End of /MOTD command.")
        try irc.expect(":alice!~alice@chatd JOIN #lobby")
        try irc.expect(":chatd 353 alice = #lobby :alice")
        try irc.expect(":chatd 366 alice #lobby :End of /NAMES list.")
        // After registration: no second USER; chatctl who says what it is.
        try irc.send("USER again 0 * :x")
        try irc.expect(":chatd 462 alice :You may not reregister")
        let who = try daemon.chatctl(["who"])
        #expect(who.out.split(separator: "\n").contains { $0.contains("alice") && $0.contains("irc") }, "\(who.out)")
    }

    @Test("nick refusals: 431 none given, 432 erroneous, 433 in use (a text user's nick too), then a good one registers")
    func nickRefusals() throws {
        let (daemon, port) = try daemon()
        let bob = try daemon.registered("bob")
        defer { withExtendedLifetime(bob) {} }
        let irc = try IRCClient(unregisteredPort: port)
        try irc.send("USER x 0 * :x")
        try irc.send("NICK")
        try irc.expect(":chatd 431 * :No nickname given")
        try irc.send("NICK 9lives")
        try irc.expect(":chatd 432 * 9lives :Erroneous nickname")
        try irc.send("NICK BOB")
        try irc.expect(":chatd 433 * BOB :Nickname is already in use")
        try irc.send("NICK carol")
        try irc.expect(":chatd 001 carol :Welcome to the chatd IRC Network, carol")
        // A nick change is told to the rooms, in each dialect.
        let text = try daemon.registered("dave")
        try irc.expect(":dave!~dave@chatd JOIN #lobby")
        try irc.send("NICK caroline")
        try irc.expect(":carol!~carol@chatd NICK :caroline")
        try text.expect("*** carol is now known as caroline")
    }

    @Test("channels are rooms: PRIVMSG and CTCP ACTION both ways with text and JSON users; JOIN, PART with a reason; QUIT")
    func channels() throws {
        let (daemon, port) = try daemon()
        let irc = try IRCClient(port: port, nick: "alice")
        try irc.send("JOIN #dev,#ops")
        try irc.expect(":alice!~alice@chatd JOIN #dev")
        try irc.expect(":chatd 366 alice #dev :End of /NAMES list.")
        try irc.expect(":alice!~alice@chatd JOIN #ops")
        try irc.expect(":chatd 366 alice #ops :End of /NAMES list.")
        let text = try daemon.registered("bob")
        try text.line("/join #dev")
        try irc.expect(":bob!~bob@chatd JOIN #dev")
        let json = try daemon.connect()
        try json.send(#"{"type":"hello","nick":"jay"}"# + "\n")
        try json.expectJSON(type: "welcome")
        try json.send(##"{"type":"join","room":"#dev"}"## + "\n")
        try irc.expect(":jay!~jay@chatd JOIN #dev")

        try text.line("hello from text")
        try irc.expect(":bob!~bob@chatd PRIVMSG #dev :hello from text")
        try text.line("/me waves")
        try irc.expect(":bob!~bob@chatd PRIVMSG #dev :\u{1}ACTION waves\u{1}")
        try irc.send("PRIVMSG #dev :hello from irc")
        try text.expect("<alice> hello from irc")
        try json.expectJSON(type: "message") { $0.string("from") == "alice" && $0.string("text") == "hello from irc" }
        try irc.send("PRIVMSG #dev :\u{1}ACTION nods\u{1}")
        try text.expect("* alice nods")
        try irc.send("PRIVMSG bob :psst")
        try text.expect("*alice* psst")
        try text.line("/msg alice back")
        try irc.expect(":bob!~bob@chatd PRIVMSG alice :back")
        // Formatting and control bytes never reach anyone else.
        try irc.send("PRIVMSG #dev :\u{2}bold\u{2} \u{3}4red \u{1b}[31mescape")
        try text.expect("<alice> bold red escape")

        try irc.send("PART #dev :see you")
        try irc.expect(":alice!~alice@chatd PART #dev :see you")
        try text.expect("*** alice has left #dev (see you)")
        try irc.send("QUIT :gone fishing")
        try irc.expect("ERROR :Closing Link: alice (Quit: gone fishing)")
        #expect(try irc.tcp.readUntilClosed().isEmpty)
        _ = try daemon.chatctl(["who"])
    }

    @Test("TOPIC, NAMES, LIST, WHO and WHOIS answer with their numerics")
    func queries() throws {
        let (daemon, port) = try daemon()
        let irc = try IRCClient(port: port, nick: "alice")
        let text = try daemon.registered("bob")
        try irc.expect(":bob!~bob@chatd JOIN #lobby")
        try irc.send("TOPIC #lobby")
        try irc.expect(":chatd 331 alice #lobby :No topic is set")
        try irc.send("TOPIC #lobby :All about tea")
        try irc.expect(":alice!~alice@chatd TOPIC #lobby :All about tea")
        try text.expect("*** alice set the topic of #lobby: All about tea")
        try irc.send("TOPIC #lobby")
        try irc.expect(":chatd 332 alice #lobby :All about tea")
        try irc.expect(prefix: ":chatd 333 alice #lobby alice ")
        try irc.send("NAMES #lobby")
        try irc.expect(":chatd 353 alice = #lobby :alice bob")
        try irc.expect(":chatd 366 alice #lobby :End of /NAMES list.")
        try irc.send("LIST")
        try irc.expect(":chatd 321 alice Channel :Users  Name")
        try irc.expect(":chatd 322 alice #lobby 2 :All about tea")
        try irc.expect(":chatd 323 alice :End of /LIST")
        try irc.send("WHO #lobby")
        try irc.expect(":chatd 352 alice #lobby ~alice chatd chatd alice H :0 alice")
        try irc.expect(":chatd 352 alice #lobby ~bob chatd chatd bob H :0 bob")
        try irc.expect(":chatd 315 alice #lobby :End of /WHO list.")
        try irc.send("WHOIS bob")
        try irc.expect(":chatd 311 alice bob ~bob chatd * :bob")
        try irc.expect(":chatd 319 alice bob :#lobby")
        try irc.expect(":chatd 312 alice bob chatd :chatd (chatd; client line)")
        try irc.expect(prefix: ":chatd 317 alice bob ")
        try irc.expect(":chatd 318 alice bob :End of /WHOIS list.")
        try irc.send("MODE #lobby")
        try irc.expect(":chatd 324 alice #lobby +n")
        try irc.expect(prefix: ":chatd 329 alice #lobby ")
        try irc.send("MODE #lobby b")
        try irc.expect(":chatd 368 alice #lobby :End of channel ban list")
        try irc.send("MODE alice")
        try irc.expect(":chatd 221 alice +")
    }

    @Test("errors: 401, 403, 405-style refusals, 411, 412, 421, 442, 461, 482; a NOTICE is never answered")
    func errors() throws {
        let (daemon, port) = try daemon()
        defer { withExtendedLifetime(daemon) {} }
        let irc = try IRCClient(port: port, nick: "alice")
        try irc.send("PRIVMSG nobody :hi")
        try irc.expect(":chatd 401 alice nobody :No such nick/channel")
        try irc.send("WHOIS nobody")
        try irc.expect(":chatd 401 alice nobody :No such nick/channel")
        try irc.expect(":chatd 318 alice nobody :End of /WHOIS list.")
        try irc.send("JOIN dev")
        try irc.expect(":chatd 403 alice dev :No such channel")
        try irc.send("PART #elsewhere")
        try irc.expect(":chatd 403 alice #elsewhere :No such channel")
        let other = try daemon.registered("bob")
        try other.line("/join #dev")
        try other.expect("*** #dev (1 user): @bob")
        try irc.send("PART #dev")
        try irc.expect(":chatd 442 alice #dev :You're not on that channel")
        try irc.send("PRIVMSG #dev :let me in")
        try irc.expect(":chatd 404 alice #dev :Cannot send to channel")
        try irc.send("TOPIC #nowhere")
        try irc.expect(":chatd 403 alice #nowhere :No such channel")
        try irc.send("PRIVMSG")
        try irc.expect(":chatd 411 alice :No recipient given (PRIVMSG)")
        try irc.send("PRIVMSG #lobby")
        try irc.expect(":chatd 412 alice :No text to send")
        try irc.send("PRIVMSG ,,, :nobody at all")
        try irc.expect(":chatd 411 alice :No recipient given (PRIVMSG)")
        try irc.send("PRIVMSG a,b,c,d,e :one line, five targets")
        try irc.expect(":chatd 407 alice e :Too many targets. The most is given in TARGMAX (005)")
        try irc.send("NAMES " + (1...11).map { "#r\($0)" }.joined(separator: ","))
        try irc.expect(":chatd 407 alice #r11 :Too many targets. The most is given in TARGMAX (005)")
        try irc.send("JOIN")
        try irc.expect(":chatd 461 alice JOIN :Not enough parameters")
        try irc.send("FROBNICATE now")
        try irc.expect(":chatd 421 alice FROBNICATE :Unknown command")
        try irc.send("KICK #lobby bob")
        try irc.expect(":chatd 482 alice #lobby :You're not channel operator")
        try irc.send("NOTICE nobody :hi")
        try irc.send("NOTICE #nowhere :hi")
        try irc.expectNothingElse()
    }

    @Test(
        "channel operators: the creator is @; MODE +o/+v/+m/+t/+i/+k with their numerics; KICK; INVITE past +i and +k; multi-prefix; chatctl mode"
    )
    func operators() throws {
        let (daemon, port) = try daemon()
        let alice = try IRCClient(port: port, nick: "alice")
        try alice.send("JOIN #ops")
        try alice.expect(":alice!~alice@chatd JOIN #ops")
        try alice.expect(":chatd 353 alice = #ops :@alice")
        let bob = try daemon.registered("bob")
        try bob.line("/join #ops")
        try bob.expect("*** #ops (2 users): @alice, bob")
        let carol = try IRCClient(port: port, nick: "carol")
        try carol.send("CAP REQ multi-prefix")
        try carol.expect(":chatd CAP carol ACK :multi-prefix")
        try carol.send("JOIN #ops")
        try carol.expect(":chatd 353 carol = #ops :@alice bob carol")
        // Roles: told to the room in each dialect; all prefixes for multi-prefix, the highest otherwise.
        try alice.send("MODE #ops +vv bob alice")
        try carol.expect(":alice!~alice@chatd MODE #ops +vv bob alice")
        try bob.expect("*** alice sets mode +vv bob alice on #ops")
        try carol.send("NAMES #ops")
        try carol.expect(":chatd 353 carol = #ops :@+alice +bob carol")
        try alice.send("NAMES #ops")
        try alice.expect(":chatd 353 alice = #ops :@alice +bob carol")
        try alice.send("WHO #ops")
        try alice.expect(":chatd 352 alice #ops ~alice chatd chatd alice H@ :0 alice")
        // +m: only operators and voiced members talk; +t: only operators set the topic.
        try alice.send("MODE #ops +m")
        try carol.expect(":alice!~alice@chatd MODE #ops +m")
        try carol.send("PRIVMSG #ops :can I speak?")
        try carol.expect(":chatd 404 carol #ops :Cannot send to channel (+m)")
        try bob.line("I have a voice")
        try carol.expect(":bob!~bob@chatd PRIVMSG #ops :I have a voice")
        try carol.send("TOPIC #ops :mine now")
        try carol.expect(":chatd 482 carol #ops :You're not channel operator")
        try carol.send("MODE #ops +o carol")
        try carol.expect(":chatd 482 carol #ops :You're not channel operator")
        try alice.send("MODE #ops +z")
        try alice.expect(":chatd 472 alice z :is unknown mode char to me")
        try alice.send("MODE #ops")
        try alice.expect(":chatd 324 alice #ops +mnt")
        // KICK: the room sees it, the kicked member too; then +i and +k keep it out until invited.
        try alice.send("KICK #ops carol :mind the rules")
        try carol.expect(":alice!~alice@chatd KICK #ops carol :mind the rules")
        try bob.expect("*** carol was kicked from #ops by alice (mind the rules)")
        try alice.send("KICK #ops carol")
        try alice.expect(":chatd 441 alice carol #ops :They aren't on that channel")
        try alice.send("KICK #ops nobody")
        try alice.expect(":chatd 401 alice nobody :No such nick/channel")
        try alice.send("MODE #ops +ik sesame")
        try bob.expect("*** alice sets mode +ik sesame on #ops")
        try carol.send("JOIN #ops")
        try carol.expect(":chatd 473 carol #ops :Cannot join channel (+i)")
        try alice.send("MODE #ops -i")
        try bob.expect("*** alice sets mode -i on #ops")  // alice's change is made before carol tries again
        try carol.send("JOIN #ops wrong")
        try carol.expect(":chatd 475 carol #ops :Cannot join channel (+k)")
        try alice.send("MODE #ops +i")
        try alice.send("INVITE bob #ops")
        try alice.expect(":chatd 443 alice bob #ops :is already on channel")
        try alice.send("INVITE carol #ops")
        try alice.expect(":chatd 341 alice carol #ops")
        try carol.expect(":alice!~alice@chatd INVITE carol #ops")
        try carol.send("JOIN #ops")
        try carol.expect(":carol!~carol@chatd JOIN #ops")
        try bob.expect("*** carol has joined #ops")
        // A server operator gives the default room an operator.
        #expect(try daemon.chatctl(["mode", "#lobby", "+o", "bob"]).out == "#lobby: +o bob\n")
        try alice.expect(":chatd MODE #lobby +o bob")
        try bob.expect("*** The server's operator sets mode +o bob on #lobby")
        let refused = try daemon.chatctl(["mode", "#lobby", "-o", "nobody"])
        #expect(refused.status != 0 && refused.err.contains("There is nobody called nobody here."), "\(refused)")
        // Channels and nicks in pairs (RFC 2812): one line, two kicks.
        try alice.send("KICK #ops,#ops carol,bob :closing time")
        try bob.expect("*** carol was kicked from #ops by alice (closing time)")
        try bob.expect("*** bob was kicked from #ops by alice (closing time)")
    }

    @Test("away-notify tells an IRC client when someone in its channels goes away or comes back; LUSERS, ISON, USERHOST")
    func presence() throws {
        let (daemon, port) = try daemon()
        let irc = try IRCClient(port: port, nick: "alice")
        try irc.send("CAP REQ away-notify")
        try irc.expect(":chatd CAP alice ACK :away-notify")
        let text = try daemon.registered("bob")
        try irc.expect(":bob!~bob@chatd JOIN #lobby")
        try text.line("/away lunch")
        try irc.expect(":bob!~bob@chatd AWAY :lunch")
        try text.line("/away")
        try irc.expect(":bob!~bob@chatd AWAY")
        try text.line("/away lunch")
        try irc.expect(":bob!~bob@chatd AWAY :lunch")
        try irc.send("ISON bob nobody ALICE")
        try irc.expect(":chatd 303 alice :bob alice")
        try irc.send("USERHOST bob alice")
        try irc.expect(":chatd 302 alice :bob=-~bob@chatd alice=+~alice@chatd")
        try irc.send("LUSERS")
        try irc.expect(":chatd 251 alice :There are 2 users and 0 invisible on 1 servers")
        try irc.expect(":chatd 254 alice 1 :channels formed")
        try irc.expect(":chatd 255 alice :I have 2 clients and 0 servers")
        try irc.expect(":chatd 265 alice 2 2 :Current local users 2, max 2")
        try irc.expect(":chatd 266 alice 2 2 :Current global users 2, max 2")
        try irc.send("ISON")
        try irc.expect(":chatd 461 alice ISON :Not enough parameters")
        // Without the capability, an IRC client is not told.
        let carol = try IRCClient(port: port, nick: "carol")
        try text.line("/away")
        try irc.expect(":bob!~bob@chatd AWAY")
        try carol.expectNothingElse()
    }

    @Test("the server PINGs a silent IRC client, parked or not: one that answers stays, one that does not leaves with Ping timeout")
    func keepalive() throws {
        let (daemon, port) = try daemon(#"{"irc": {"pingIntervalSeconds": 1, "pingTimeoutSeconds": 2}}"#)
        let text = try daemon.registered("bob")
        let irc = try IRCClient(port: port, nick: "alice")
        try irc.expect("PING :chatd")
        try irc.send("PONG :chatd")
        try irc.expect("PING :chatd")  // silent again since: pinged again
        try irc.expect("ERROR :Closing Link: alice (Ping timeout: 3 seconds)")
        try text.expect("*** alice has quit (Ping timeout: 3 seconds)")
        #expect(try irc.tcp.readUntilClosed().isEmpty)
    }

    @Test("a long line from a text user reaches IRC split in lines of at most 512 bytes, whole characters, nothing lost")
    func splitting() throws {
        let (daemon, port) = try daemon(#"{"limits": {"maxLineBytes": 4096}}"#)
        let irc = try IRCClient(port: port, nick: "alice")
        let text = try daemon.registered("bob")
        try irc.expect(":bob!~bob@chatd JOIN #lobby")
        let words = (0..<120).map { "wörd\($0)—ünïcödé" }
        let long = words.joined(separator: " ")
        try text.line(long)
        var pieces: [String] = []
        let prefix = ":bob!~bob@chatd PRIVMSG #lobby :"
        while pieces.joined(separator: " ").count < long.count {
            let raw = try #require(try irc.tcp.readRawLine())
            #expect(raw.count + 2 <= 512, "a line of \(raw.count + 2) bytes")
            let line = try #require(String(validating: raw, as: UTF8.self))
            #expect(line.hasPrefix(prefix))
            pieces.append(String(line.dropFirst(prefix.count)))
        }
        #expect(pieces.count > 1)
        #expect(pieces.joined(separator: " ") == long)
    }

    @Test("the same rules as every transport: a kick and an address ban close an IRC client with ERROR")
    func rules() throws {
        let (daemon, port) = try daemon()
        let irc = try IRCClient(port: port, nick: "alice")
        #expect(try daemon.chatctl(["kick", "alice", "enough"]).status == 0)
        try irc.expect("ERROR :Closing Link: alice (Kicked by an operator: enough)")
        _ = try irc.tcp.readUntilClosed()
        #expect(try daemon.chatctl(["ban", "127.0.0.1"]).status == 0)
        let banned = try Client(port: port)
        let lines = try banned.readUntilClosed()
        #expect(lines.count == 1 && lines[0].hasPrefix("ERROR :Closing Link: * ("), "\(lines)")
    }

    @Test("an idle IRC client is parked like any other: it hears its rooms, and comes back speaking IRC under its own nick")
    func parking() throws {
        let (daemon, port) = try daemon(#"{"limits": {"parkIdleSeconds": 1}}"#)
        let irc = try IRCClient(unregisteredPort: port)
        try irc.send("CAP REQ :server-time")
        try irc.send("NICK alice")
        try irc.send("USER alice 0 * :Alice")
        try irc.send("CAP END")
        try irc.expect(":chatd 366 alice #lobby :End of /NAMES list.")
        let text = try daemon.registered("bob")
        try irc.expect(suffix: ":bob!~bob@chatd JOIN #lobby")
        try daemon.waitForParked("alice")
        // While parked, and after: still with its capabilities.
        try text.line("are you there?")
        #expect(try irc.expect(suffix: ":bob!~bob@chatd PRIVMSG #lobby :are you there?").hasPrefix("@time="))
        try irc.send("WHOIS bob")
        try irc.expect(":chatd 311 alice bob ~bob chatd * :bob")
        try irc.send("PRIVMSG #lobby :back")
        try text.expect("<alice> back")
        try daemon.waitForLog("resumed from the parking lot")
        try irc.send("CAP LIST")
        try irc.expect(":chatd CAP alice LIST :server-time")
    }

    @Test("AWAY: 306 and 305 to the client; 301 to whoever messages it (an IRC or text user), and in WHOIS")
    func away() throws {
        let (daemon, port) = try daemon()
        let irc = try IRCClient(port: port, nick: "alice")
        let text = try daemon.registered("bob")
        try irc.send("AWAY :gone for tea")
        try irc.expect(":chatd 306 alice :You have been marked as being away")
        try text.line("/msg alice are you there?")
        try text.expect("*** alice is away: gone for tea")
        try text.line("/whois alice")
        try text.expect(containing: "client irc; away: gone for tea")
        try text.line("/away in a meeting")
        try text.expect("*** You are marked as away: in a meeting")
        try irc.send("PRIVMSG bob :ping?")
        try irc.expect(":chatd 301 alice bob :in a meeting")
        try irc.send("NOTICE bob :quiet")
        try irc.send("WHOIS bob")
        // A NOTICE is never answered, not even with 301: the WHOIS comes next.
        let next = try irc.tcp.readLine()
        #expect(next == ":chatd 311 alice bob ~bob chatd * :bob", "\(next ?? "")")
        try irc.expect(":chatd 301 alice bob :in a meeting")
        try irc.expect(":chatd 318 alice bob :End of /WHOIS list.")
        try irc.send("AWAY")
        try irc.expect(":chatd 305 alice :You are no longer marked as being away")
        try text.line("/msg alice back?")
        try irc.expect(":bob!~bob@chatd PRIVMSG alice :back?")
        try text.expect("-alice- quiet")
        try text.expect("-> *alice* back?")
        try text.expectNothingElse()
    }

    @Test(
        "IRCv3: server-time and message-tags tag what users do, echo-message returns a client's own messages, userhost-in-names; a client without them sees none"
    )
    func capabilities() throws {
        let (daemon, port) = try daemon()
        let modern = try IRCClient(unregisteredPort: port)
        try modern.send("CAP LS 302")
        try modern.send("NICK alice")
        try modern.send("USER alice 0 * :Alice")
        try modern.send("CAP REQ :server-time message-tags echo-message userhost-in-names")
        try modern.expect(":chatd CAP * ACK :server-time message-tags echo-message userhost-in-names")
        try modern.send("CAP REQ :multi-prefix chghost")  // all or nothing
        try modern.expect(":chatd CAP * NAK :multi-prefix chghost")
        try modern.send("CAP REQ :server-time draft/chathistory")
        try modern.expect(":chatd CAP * NAK :server-time draft/chathistory")
        try modern.send("CAP LIST")
        try modern.expect(":chatd CAP * LIST :echo-message message-tags server-time userhost-in-names")
        try modern.send("CAP END")
        try modern.expect(":chatd 001 alice :Welcome to the chatd IRC Network, alice")
        let join = try modern.expect(prefix: "@time=")
        #expect(
            join.range(
                of: #"^@time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z;msgid=\d+ :alice!~alice@chatd JOIN #lobby$"#,
                options: .regularExpression) != nil, "\(join)")
        try modern.expect(":chatd 353 alice = #lobby :alice!~alice@chatd")

        let classic = try IRCClient(port: port, nick: "bob")
        let text = try daemon.registered("carol")
        try text.line("hello, everyone")
        let tagged = try modern.expect(suffix: " :carol!~carol@chatd PRIVMSG #lobby :hello, everyone")
        #expect(tagged.hasPrefix("@time="), "\(tagged)")
        try classic.expect(":carol!~carol@chatd PRIVMSG #lobby :hello, everyone")
        // Its own messages come back to alice, as the others see them; not to bob.
        try modern.send("PRIVMSG #lobby :mine")
        let echoed = try modern.expect(suffix: " :alice!~alice@chatd PRIVMSG #lobby :mine")
        #expect(echoed.hasPrefix("@time="), "\(echoed)")
        try classic.expect(":alice!~alice@chatd PRIVMSG #lobby :mine")
        try classic.send("PRIVMSG #lobby :his")
        try classic.expectNothingElse()
        try modern.send("PRIVMSG bob :just you")
        let privateEcho = try modern.expect(suffix: " :alice!~alice@chatd PRIVMSG bob :just you")
        #expect(privateEcho.hasPrefix("@time="), "\(privateEcho)")
        try classic.expect(":alice!~alice@chatd PRIVMSG bob :just you")
        // Turned off again: plain lines.
        try modern.send("CAP REQ :-server-time -message-tags")
        try modern.expect(":chatd CAP alice ACK :-server-time -message-tags")
        try text.line("plain again")
        try modern.expect(":carol!~carol@chatd PRIVMSG #lobby :plain again")
    }

    @Test("scrollback follows the client's own JOIN and the names: a chathistory batch with server-time, or between notices without")
    func scrollback() throws {
        let (daemon, port) = try daemon()
        let text = try daemon.registered("bob")
        try text.line("first")
        try text.line("/me second")
        try text.expectNothingElse()  // both relayed, so both kept
        let modern = try IRCClient(unregisteredPort: port)
        try modern.send("CAP REQ :batch server-time")
        try modern.send("NICK alice")
        try modern.send("USER alice 0 * :Alice")
        try modern.send("CAP END")
        try modern.expect(suffix: ":alice!~alice@chatd JOIN #lobby")
        try modern.expect(":chatd 366 alice #lobby :End of /NAMES list.")
        let start = try #require(try modern.tcp.readLine())
        let reference = try #require(start.split(separator: " ").dropFirst(2).first.map { String($0.dropFirst()) })
        #expect(start == ":chatd BATCH +\(reference) chathistory #lobby", "\(start)")
        let first = try #require(try modern.tcp.readLine())
        #expect(first.hasPrefix("@batch=\(reference);time=") && first.hasSuffix(" :bob!~bob@chatd PRIVMSG #lobby :first"), "\(first)")
        let second = try #require(try modern.tcp.readLine())
        #expect(second.hasSuffix(" :bob!~bob@chatd PRIVMSG #lobby :\u{1}ACTION second\u{1}"), "\(second)")
        #expect(try modern.tcp.readLine() == ":chatd BATCH -\(reference)")

        let classic = try IRCClient(port: port, nick: "carol")
        try classic.expect(prefix: ":chatd NOTICE #lobby :Scrollback of #lobby (2 lines, times in UTC):")
        let line = try #require(try classic.tcp.readLine())
        #expect(
            line.range(of: #"^:bob!~bob@chatd PRIVMSG #lobby :\[\d\d:\d\d:\d\d\] first$"#, options: .regularExpression) != nil, "\(line)")
    }

    @Test(
        "NOTICE stays a notice: to a channel and to a nick, for IRC and text users; /notice from text reaches IRC as NOTICE; never answered"
    )
    func notices() throws {
        let (daemon, port) = try daemon()
        let alice = try IRCClient(port: port, nick: "alice")
        let bot = try IRCClient(port: port, nick: "bot")
        try alice.expect(":bot!~bot@chatd JOIN #lobby")
        let text = try daemon.registered("bob")
        try bot.expect(":bob!~bob@chatd JOIN #lobby")
        try bot.send("NOTICE #lobby :build 42 passed")
        try alice.expect(":bot!~bot@chatd NOTICE #lobby :build 42 passed")
        try text.expect("-bot- build 42 passed")
        try bot.send("NOTICE alice :your build passed")
        try alice.expect(":bot!~bot@chatd NOTICE alice :your build passed")
        try text.line("/notice alice psst")
        try alice.expect(":bob!~bob@chatd NOTICE alice :psst")
        try text.expect("-> -alice- psst")
        try text.line("/notice #lobby to all")
        try alice.expect(":bob!~bob@chatd NOTICE #lobby :to all")
        try bot.expect(":bob!~bob@chatd NOTICE #lobby :to all")
        // Never answered, not even when it goes nowhere or to someone away.
        try alice.send("AWAY :out")
        try alice.expect(":chatd 306 alice :You have been marked as being away")
        try bot.send("NOTICE alice :are you there")
        try bot.send("NOTICE nobody :hello")
        try bot.send("NOTICE #nowhere :hello")
        try bot.expectNothingElse()
        _ = text
    }
}
