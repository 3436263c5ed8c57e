import Foundation
import Glibc
import Synchronization
import Testing

/// `chat` run from a script: stdin and stdout are pipes.
final class PipedChat: PipedProcess {
    override init(_ arguments: [String], environment: [String: String] = [:]) throws {
        try super.init([TerminalClientTests.chat] + arguments, environment: environment)
    }
}

@Suite("chat, the terminal client", .serialized)
struct TerminalClientTests {
    static var chat: String { Daemon.binDirectory.appendingPathComponent("chat").path }

    // MARK: Scripts

    @Test("piped: each stdin line is sent, each event printed on stdout, and EOF leaves cleanly")
    func piped() throws {
        let daemon = try Daemon()
        let watcher = try daemon.connect()
        try watcher.register("watcher")
        let bot = try PipedChat(["--nick", "bot", "--room", "#lobby", "127.0.0.1:\(daemon.port)"])
        try watcher.expect("*** bot has joined #lobby")
        bot.write("hi from a script\n/me waves\n/msg watcher psst\n")
        #expect(try daemon.chatctl(["who"]).out.split(separator: "\n").contains { $0.hasPrefix("bot") && $0.hasSuffix("chat 0.1.0") })
        try watcher.expect("<bot> hi from a script")
        try watcher.expect("* bot waves")
        try watcher.expect("*bot* psst")
        try watcher.line("hello bot")
        try bot.waitFor("<watcher> hello bot\n")
        bot.write("last words, without a newline")
        bot.closeInput()
        try watcher.expect("<bot> last words, without a newline")
        #expect(try bot.waitForExit() == 0)
        try watcher.expect("*** bot has quit (Quit)")
        let printed = bot.output.text
        #expect(printed.contains("<bot> hi from a script\n* bot waves\n-> *watcher* psst\n"))
        #expect(!printed.contains("\u{1B}"), "no colour or escape sequences when output is not a terminal")
    }

    @Test("lines piped with --room, or after /join, go to that room, as the README's example has it")
    func pipedToTheJoinedRoom() throws {
        let daemon = try Daemon()
        let watcher = try daemon.connect()
        try watcher.register("watcher")
        try watcher.line("/join #dev")
        try watcher.expect(containing: "#dev (1 user)")
        try watcher.line("/join #ops")
        try watcher.expect(containing: "#ops (1 user)")
        // Written at once, before chat has even connected: the line must wait for the join.
        let ci = try PipedChat(["--nick", "ci", "--room", "#dev", "127.0.0.1:\(daemon.port)"])
        ci.write("build passed\n")
        ci.closeInput()
        try watcher.expect("[#dev] <ci> build passed")
        #expect(try ci.waitForExit() == 0)
        let mover = try PipedChat(["--nick", "mover", "127.0.0.1:\(daemon.port)"])
        mover.write("/join #ops\nafter the join\n/join #no!\nstill in ops\n")
        mover.closeInput()
        try watcher.expect("<mover> after the join")
        try watcher.expect("<mover> still in ops")  // a refused join leaves the room as it was
        #expect(try mover.waitForExit() == 0)
        #expect(!watcher.received.contains { $0.contains("[#lobby] <ci>") || $0.contains("[#lobby] <mover>") }, "\(watcher.received)")
        #expect(mover.output.text.contains("A room name cannot contain"))
    }

    @Test("a long script is paced to the server's flood limit, so nothing is cut off or lost")
    func pacing() throws {
        // A burst of 3 and at most 4 held lines: a client that wrote 60 lines at once, or kept
        // more than 4 in flight, would be cut off. chat learns the limits from `hello`.
        let daemon = try Daemon(config: #"{"limits": {"floodBurst": 3, "floodRate": 200, "floodQueueLines": 4}}"#)
        let watcher = try daemon.connect()
        try watcher.register("watcher")
        let bot = try PipedChat(["--nick", "bot", "127.0.0.1:\(daemon.port)"])
        bot.write((1...60).map { "line \($0)\n" }.joined())
        bot.closeInput()
        try watcher.expect("*** bot has joined #lobby")
        for n in 1...60 { try watcher.expect("<bot> line \(n)") }
        try watcher.expect("*** bot has quit (Quit)")
        #expect(try bot.waitForExit() == 0)
    }

    @Test("an unreachable server, a refused nick and a missing nick give a clear message and a status")
    func failures() throws {
        let daemon = try Daemon()
        let closed = try PipedChat(["--nick", "bot", "127.0.0.1:1"])
        #expect(try closed.waitForExit() == 69)
        #expect(closed.output.text.contains("chat: cannot reach chatd at 127.0.0.1:1: Connection refused."))

        let reserved = try PipedChat(["--nick", "server", "127.0.0.1:\(daemon.port)"])
        #expect(try reserved.waitForExit() == 1)
        #expect(reserved.output.text.contains("chat: The server refused the nickname: That nickname is reserved for the server."))

        let nameless = try PipedChat(["127.0.0.1:\(daemon.port)"])
        #expect(try nameless.waitForExit() == 64)
        #expect(nameless.output.text.contains("--nick is needed when stdin is not a terminal"))

        let badPort = try PipedChat(["--nick", "x", "localhost:http"])
        #expect(try badPort.waitForExit() == 64)
        #expect(badPort.output.text.contains("'http' is not a port number"))
    }

    @Test("an IPv6 literal address works")
    func ipv6() throws {
        let daemon = try Daemon(extraArguments: ["--listen", "[::1]:0"])
        try daemon.waitForLog("listening for chat clients on [::1]:")
        let v6Port = try #require(
            daemon.output.range(of: #"listening for chat clients on \[::1\]:(\d+)"#, options: .regularExpression).map {
                Int(daemon.output[$0].split(separator: ":").last!)!
            })
        let watcher = try daemon.connect()
        try watcher.register("watcher")
        let bot = try PipedChat(["--nick", "six", "[::1]:\(v6Port)"])
        bot.write("over v6\n")
        try watcher.expect("*** six has joined #lobby")
        try watcher.expect("<six> over v6")
        bot.closeInput()
        #expect(try bot.waitForExit() == 0)
    }

    // MARK: A person at a terminal

    private func session(_ daemon: Daemon, _ arguments: [String], width: Int = 80, environment: [String: String] = [:]) throws -> Tmux {
        try Tmux([Self.chat] + arguments + ["127.0.0.1:\(daemon.port)"], width: width, environment: environment)
    }

    @Test("a message arriving mid-typing prints above the input line and leaves the typed text intact")
    func typingUndisturbed() throws {
        let daemon = try Daemon()
        let bob = try daemon.connect()
        try bob.register("bob")
        let terminal = try session(daemon, ["--nick", "alice"])
        try bob.expect("*** alice has joined #lobby")
        try terminal.waitFor("the prompt") { $0.last(where: { !$0.isEmpty }) == "[#lobby]" }
        try terminal.type("hello wor")
        try terminal.waitFor("the typed text") { $0.last(where: { !$0.isEmpty }) == "[#lobby] hello wor" }
        try bob.line("interrupting you, alice")
        let rows = try terminal.waitFor(row: "<bob> interrupting you, alice")
        #expect(rows.last(where: { !$0.isEmpty }) == "[#lobby] hello wor", "the input line is redrawn, whole, below the message")
        #expect(try terminal.cursor().x == "[#lobby] hello wor".count)
        try terminal.type("ld")
        try terminal.press("Enter")
        try bob.expect("<alice> hello world")
        try terminal.waitFor(row: "<alice> hello world")
        try terminal.waitFor("an empty input line") { $0.last(where: { !$0.isEmpty }) == "[#lobby]" }
    }

    @Test("the edited line is what gets sent: arrows, Home/End, Ctrl-W/U/K/Y, history and Tab")
    func editing() throws {
        let daemon = try Daemon()
        let bob = try daemon.connect()
        try bob.register("bob")
        let terminal = try session(daemon, ["--nick", "alice", "--no-color"])
        try bob.expect("*** alice has joined #lobby")
        try terminal.waitFor(row: "[#lobby]")

        try terminal.type("wrld")
        try terminal.press("Left", "Left", "Left")
        try terminal.type("o")
        try terminal.press("Home")
        try terminal.type("hello ")
        try terminal.press("End")
        try terminal.type(" extra")
        try terminal.press("C-w", "BSpace", "Enter")
        try bob.expect("<alice> hello world")

        try terminal.type("drop all this")
        try terminal.press("C-u")
        try terminal.type("keep")
        try terminal.press("C-a", "C-k", "C-y", "C-y", "Enter")
        try bob.expect("<alice> keepkeep")

        try terminal.press("Up", "Up", "Enter")  // the history: "hello world" again
        try bob.expect("<alice> hello world")

        try terminal.type("bo")
        try terminal.press("Tab")
        try terminal.type("look")
        try terminal.press("Enter")
        try bob.expect("<alice> bob: look")

        try terminal.type("/jo")
        try terminal.press("Tab")
        try terminal.type("#dev")
        try terminal.press("Enter")
        try terminal.waitFor("the prompt in #dev") { $0.last(where: { !$0.isEmpty }) == "[#dev]" }
    }

    @Test("wide and combining characters keep the cursor where the terminal drew them")
    func wideCharacters() throws {
        let daemon = try Daemon()
        let bob = try daemon.connect()
        try bob.register("bob")
        let terminal = try session(daemon, ["--nick", "alice"])
        try bob.expect("*** alice has joined #lobby")
        try terminal.waitFor(row: "[#lobby]")
        try terminal.type("日本語 cafe\u{301}")
        try terminal.waitFor(row: "[#lobby] 日本語 café")
        #expect(try terminal.cursor().x == "[#lobby] ".count + 6 + 1 + 4)
        try terminal.press("Left", "Left", "Left", "Left", "Left")  // before the space
        #expect(try terminal.cursor().x == "[#lobby] ".count + 6)
        try terminal.press("BSpace")
        #expect(try terminal.waitFor(row: "[#lobby] 日本 café").isEmpty == false)
        #expect(try terminal.cursor().x == "[#lobby] ".count + 4)
        try terminal.press("Enter")
        try bob.expect("<alice> 日本 café")
    }

    @Test("a long line scrolls sideways and follows the terminal's width when it is resized")
    func resize() throws {
        let daemon = try Daemon()
        let terminal = try session(daemon, ["--nick", "alice"], width: 60)
        try terminal.waitFor(row: "[#lobby]")
        let text = (1...12).map { "word\($0)" }.joined(separator: " ")
        try terminal.type(text)
        try terminal.waitFor("the end of the line in view") { $0.last(where: { !$0.isEmpty })?.hasSuffix("word12") ?? false }
        #expect(try terminal.inputRow().count < 60)
        try terminal.resize(width: 30, height: 24)
        try terminal.waitFor("the line redrawn for 30 columns") {
            guard let row = $0.last(where: { !$0.isEmpty }) else { return false }
            return row.count < 30 && row.hasPrefix("[#lobby]") && row.hasSuffix("word12")
        }
        try terminal.press("Home")
        try terminal.waitFor("the start of the line in view") {
            $0.last(where: { !$0.isEmpty })?.hasPrefix("[#lobby] word1 word2") ?? false
        }
    }

    @Test("without --nick the user is asked; a refused nick shows the reason and asks again")
    func nickPrompt() throws {
        let daemon = try Daemon()
        let bob = try daemon.connect()
        try bob.register("bob")
        let terminal = try session(daemon, [], environment: ["USER": "bob"])
        try terminal.waitFor("the nick prompt, suggesting $USER") { $0.last(where: { !$0.isEmpty }) == "nick: bob" }
        try terminal.press("Enter")
        try terminal.waitFor(row: "The nickname bob is already in use.")
        try terminal.waitFor("the nick prompt again") { $0.last(where: { !$0.isEmpty })?.hasPrefix("nick:") ?? false }
        try terminal.press("C-u")
        try terminal.type("carol")
        try terminal.press("Enter")
        try bob.expect("*** carol has joined #lobby")
        try terminal.waitFor("the room prompt") { $0.last(where: { !$0.isEmpty }) == "[#lobby]" }
    }

    @Test("Ctrl-C leaves with a quit, and the terminal is restored (also on SIGTERM, and on a crash)")
    func leavingRestoresTerminal() throws {
        let daemon = try Daemon()
        let bob = try daemon.connect()
        try bob.register("bob")
        // A crash (SIGSEGV) cannot say goodbye: the server sees the connection close.
        for (way, reason, status) in [("C-c", "Quit", 0), ("TERM", "Quit", 0), ("SEGV", "Connection", 139)] {
            let script =
                "\(Self.chat) --nick alice 127.0.0.1:\(daemon.port); echo \"status $?\"; stty -a | tr ' ' '\\n' | grep -xE -- '-?(icanon|echo|isig)' | tr '\\n' ' '; echo"
            let terminal = try Tmux(["sh", "-c", script])
            try bob.expect("*** alice has joined #lobby")
            try terminal.waitFor(row: "[#lobby]")
            if way == "C-c" {
                try terminal.press("C-c")
            } else {
                let pid = try #require(
                    Int32(try terminal.tmux(["display-message", "-p", "#{pane_pid}"]).trimmingCharacters(in: .whitespacesAndNewlines)))
                let result = try Daemon.run(["/usr/bin/pkill", "-\(way)", "-P", "\(pid)", "-x", "chat"])
                #expect(result.status == 0)
            }
            try bob.expect(containing: "*** alice has quit (\(reason)")
            let rows = try terminal.waitFor(row: "icanon")
            #expect(rows.contains("status \(status)"), "\(way)")
            let modes = try #require(rows.first { $0.contains("icanon") }).split(separator: " ")
            #expect(Set(modes) == ["isig", "icanon", "echo"], "\(way): the terminal is back in cooked mode")
        }
    }

    @Test("colours in a terminal; none with NO_COLOR")
    func colours() throws {
        let daemon = try Daemon()
        for noColor in [false, true] {
            let terminal = try session(daemon, ["--nick", noColor ? "plain" : "vivid"], environment: noColor ? ["NO_COLOR": "1"] : [:])
            try terminal.waitFor(row: "has joined #lobby")
            let styled = try terminal.tmux(["capture-pane", "-p", "-e"])
            // Status lines are grey (SGR 90); the prompt is bold (SGR 1).
            #expect(styled.contains("\u{1B}[90m") != noColor, "NO_COLOR=\(noColor)")
            #expect(styled.contains("\u{1B}[1m") != noColor, "NO_COLOR=\(noColor)")
        }
    }

    @Test("when the server restarts, the client reconnects and rejoins its rooms")
    func reconnects() throws {
        // A fixed port, so the restarted daemon is where chat will look.
        let port = try freeLoopbackPort()
        let daemon = try Daemon(extraArguments: ["--listen", "127.0.0.1:\(port)"])
        daemon.keepDirectory.withLock { $0 = true }
        let terminal = try Tmux([Self.chat, "--nick", "alice", "--room", "#dev", "127.0.0.1:\(port)"])
        try terminal.waitFor("the prompt in #dev") { $0.last(where: { !$0.isEmpty }) == "[#dev]" }
        #expect(try daemon.stop() == 0)
        try terminal.waitFor(row: "Disconnected: Server shutting down.")
        try terminal.waitFor(row: "Reconnecting in")
        let restarted = try Daemon(extraArguments: ["--listen", "127.0.0.1:\(port)"], directory: daemon.directory)
        let bob = try restarted.connect()
        try bob.register("bob")
        try bob.line("/join #dev")
        try bob.expect(containing: "alice", timeout: 40)  // alice is back in #dev (the join, or the member list)
        try terminal.waitFor("the prompt back in #dev", timeout: 20) { $0.last(where: { !$0.isEmpty }) == "[#dev]" }
        try terminal.type("back again")
        try terminal.press("Enter")
        try bob.expect("<alice> back again")
    }

    @Test("after a drop, chat shows exactly the lines it missed, asked for after the last one it saw, each once")
    func catchesUp() throws {
        // One line of scrollback: the line before the drop is not in it, so chat must ask for
        // the gap between that line and the scrollback.
        let daemon = try Daemon(config: #"{"history": {"replayLines": 1}}"#)
        let relay = try CuttingProxy(to: daemon.port)
        let chat = try PipedChat(["--nick", "alice", "--room", "#dev", "127.0.0.1:\(relay.port)"])
        let bob = try daemon.registered("bob")
        try bob.line("/join #dev")
        try chat.waitFor("bob has joined #dev")
        try bob.line("seen before the drop")
        try chat.waitFor("<bob> seen before the drop")
        try relay.cut()
        try chat.waitFor("Reconnecting in")
        try bob.expect(containing: "alice has quit")
        for text in ["missed one", "missed two", "missed three"] { try bob.line(text) }
        try bob.line("/ping said")
        try bob.expect("*** pong said")
        try relay.resume()
        try chat.waitFor("End of missed lines.", timeout: 30)
        try bob.expect("*** alice has joined #dev")
        try bob.line("live again")
        try chat.waitFor("<bob> live again")
        let printed = chat.output.text
        #expect(printed.contains("Missed in #dev while disconnected (3 lines):"), "\(printed)")
        for text in ["seen before the drop", "missed one", "missed two", "missed three", "live again"] {
            #expect(printed.components(separatedBy: "<bob> \(text)").count == 2, "\(text) once:\n\(printed)")
        }
        let order = ["missed one", "missed two", "missed three", "live again"].compactMap { printed.range(of: "<bob> \($0)")?.lowerBound }
        #expect(order == order.sorted() && order.count == 4, "in order:\n\(printed)")
    }

    @Test("after a kick the client says so and does not come back by itself; kick --ban keeps it out")
    func kickedStaysOut() throws {
        let daemon = try Daemon()
        let bob = try daemon.connect(from: "127.0.0.2")  // not the address the ban will cover
        try bob.register("bob")
        let terminal = try session(daemon, ["--nick", "alicia"])
        try bob.expect("*** alicia has joined #lobby")
        #expect(try daemon.chatctl(["kick", "alicia", "be", "nice"]).status == 0)
        let rows = try terminal.waitFor(row: "Disconnected: Kicked by an operator: be nice.")
        let disconnected = rows.first { $0.contains("Disconnected: Kicked") } ?? ""
        #expect(disconnected.range(of: #"^\d\d:\d\d -!- Disconnected"#, options: .regularExpression) != nil, "timestamped: \(disconnected)")
        #expect(!rows.contains { $0.contains("Closing connection") }, "the reason is said once")
        try terminal.waitFor(row: "Not reconnecting after a kick; run chat again to come back.")
        let status = try terminal.waitForExit()
        #expect(status == 1 || status == nil, "exit status \(String(describing: status))")  // nil: tmux did not say
        try bob.expect("*** alicia has quit (Kicked by an operator: be nice)")
        // With --ban, a new start is refused at connect, for as long as the ban lasts.
        let again = try session(daemon, ["--nick", "alicia"])
        try bob.expect("*** alicia has joined #lobby")
        let kicked = try daemon.chatctl(["kick", "alicia", "--ban", "1h", "spamming"])
        #expect(kicked.status == 0, "\(kicked.err)")
        #expect(kicked.out == "kicked alicia\nbanned 127.0.0.1 for 1h00m\n", "\(kicked.out)")
        try again.waitFor(row: "Not reconnecting after a kick; run chat again to come back.")
        try bob.expect("*** alicia has quit (Kicked by an operator: spamming)")
        let third = try session(daemon, ["--nick", "alicia"])
        try third.waitFor(row: "You are banned from this server: spamming")
        #expect(try daemon.chatctl(["unban", "127.0.0.1"]).status == 0)
        try bob.expectNothingElse()  // alicia never came back
    }
}
