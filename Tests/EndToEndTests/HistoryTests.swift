import ChatCore
import Foundation
import Testing

/// Room history on disk, end to end: the built chatd, its SQLite file in the test's state
/// directory, read back with `chatctl history` across restarts.
@Suite("history")
struct HistoryTests {
    func lines(_ daemon: Daemon, _ room: String, limit: Int = 50) throws -> [HistoryRecord] {
        let result = try daemon.chatctl(["history", room, "--json", "--limit", String(limit)])
        #expect(result.status == 0, "\(result.err)")
        guard case .array(let entries)? = try JSONValue.parse(result.out).objectValue?["lines"] else { return [] }
        return entries.compactMap { HistoryRecord(json: $0) }
    }

    @Test("lines relayed just before SIGTERM are on disk after it; a restart keeps them, and event ids go on from them")
    func survivesRestart() throws {
        // A long flush interval: the lines are certainly still waiting when SIGTERM comes.
        let daemon = try Daemon(config: #"{"history": {"flushIntervalMs": 1000}}"#)
        let alice = try daemon.registered("alice")
        let bob = try daemon.registered("bob")
        try alice.expect("*** bob has joined #lobby")
        try alice.line("first words")
        try alice.line("/me waves")
        try bob.expect("* alice waves")
        try bob.line("/join #Dev")
        try bob.expect("*** bob has joined #Dev")
        try bob.line("elsewhere")
        try bob.line("/ping done")
        try bob.expect("*** pong done")
        #expect(try daemon.stop() == 0)

        let restarted = try Daemon(directory: daemon.directory)
        let lobby = try lines(restarted, "#lobby")
        #expect(lobby.map(\.text) == ["first words", "waves"])
        #expect(lobby.map(\.from) == ["alice", "alice"] && lobby.map(\.isAction) == [false, true])
        #expect(try lines(restarted, "#dev").map(\.text) == ["elsewhere"])
        #expect(try lines(restarted, "#DEV").first?.room == "#Dev")
        // The next event's id is past every kept one: an id names one event for good.
        let bot = try restarted.connect()
        try bot.send(#"{"type":"hello","nick":"bot"}"# + "\n")
        let welcome = try bot.expectJSON(type: "welcome")
        #expect((welcome.int("id") ?? 0) > Int(lobby.last?.id ?? .max))
        let stats = try JSONValue.parse(try restarted.chatctl(["stats", "--json"]).out).objectValue
        #expect(stats?.string("history") == "on")
    }

    @Test("joining shows the room's scrollback, marked as history, in text and JSON; a restart keeps it")
    func scrollbackOnJoin() throws {
        let daemon = try Daemon(config: #"{"history": {"replayLines": 2}}"#)
        let alice = try daemon.registered("alice")
        for text in ["one", "two", "three"] { try alice.line(text) }
        try alice.line("/ping sent")
        try alice.expect("*** pong sent")
        let bob = try daemon.connect()
        try bob.expect("*** Please choose a nickname:")
        try bob.line("bob")
        try bob.expect(containing: "You are now known as bob")
        let header = try bob.readLine()
        #expect(header == "*** Scrollback of #lobby (2 lines, times in UTC):")
        let first = try bob.readLine() ?? ""
        let second = try bob.readLine() ?? ""
        #expect(first.hasSuffix("] <alice> two") && second.hasSuffix("] <alice> three"), "\(first) / \(second)")
        try bob.expect("*** End of scrollback.")
        try bob.expect("*** bob has joined #lobby")
        // Live traffic after the join comes once, live.
        try alice.line("four")
        try bob.expect("<alice> four")
        try alice.line("/ping more")
        try alice.expect("*** pong more")
        #expect(try daemon.stop() == 0)

        let restarted = try Daemon(config: #"{"history": {"replayLines": 2}}"#, directory: daemon.directory)
        let bot = try restarted.connect()
        try bot.send(#"{"type":"hello","nick":"bot"}"# + "\n")
        let history = try bot.expectJSON(type: "history")
        guard case .array(let lines)? = history["lines"] else {
            Issue.record("no lines: \(history)")
            return
        }
        #expect(lines.compactMap { $0.objectValue?.string("text") } == ["three", "four"])
        #expect(history.string("room") == "#lobby")
    }

    @Test("/history pages a room's older lines, in text and JSON; with history off it says so")
    func paging() throws {
        let daemon = try Daemon()
        let alice = try daemon.registered("alice")
        for text in ["one", "two", "three", "four"] { try alice.line(text) }
        try alice.line("/history #lobby 2")
        try alice.expect("*** Scrollback of #lobby (2 lines, times in UTC):")
        #expect(try alice.readLine()?.hasSuffix("<alice> three") == true)
        #expect(try alice.readLine()?.hasSuffix("<alice> four") == true)
        try alice.expect("*** End of scrollback.")
        let bot = try daemon.connect()
        try bot.send(#"{"type":"hello","nick":"bot"}"# + "\n")
        let seen = try bot.expectJSON(type: "history")
        guard case .array(let lines)? = seen["lines"], let oldest = lines.first?.objectValue?.int("id") else {
            Issue.record("no scrollback: \(seen)")
            return
        }
        try bot.send(#"{"type":"history","before":\#(oldest + 2),"limit":1,"id":"p1"}"# + "\n")
        let page = try bot.expectJSON(type: "history") { $0["re"] == .string("p1") }
        guard case .array(let paged)? = page["lines"] else { return }
        #expect(paged.compactMap { $0.objectValue?.string("text") } == ["two"])
        try bot.send(#"{"type":"history","after":\#(oldest),"limit":2,"id":"p2"}"# + "\n")
        let next = try bot.expectJSON(type: "history") { $0["re"] == .string("p2") }
        guard case .array(let later)? = next["lines"] else { return }
        #expect(later.compactMap { $0.objectValue?.string("text") } == ["two", "three"])

        let off = try Daemon(config: #"{"history": {"enabled": false}}"#)
        let carol = try off.registered("carol")
        try carol.line("/history")
        try carol.expect("*** Error: History is not available: off.")
    }

    @Test("SIGKILL under load loses at most the lines of the last flush interval: everything older is on disk")
    func killed() throws {
        let config = #"{"history": {"flushIntervalMs": 100}, "limits": {"floodRate": 100000, "floodBurst": 100000}}"#
        let daemon = try Daemon(config: config)
        let alice = try daemon.registered("alice")
        let bob = try daemon.registered("bob")
        try alice.expect("*** bob has joined #lobby")
        // A first burst, relayed (bob has it all), and written: it must be on disk whatever
        // happens next.
        for n in 1...300 { try alice.line("early \(n)") }
        try bob.expect("<alice> early 300")
        // The writer reports it written within a few flush intervals (it commits every 100 ms).
        let deadline = Date().addingTimeInterval(1.0)
        while try JSONValue.parse(try daemon.chatctl(["stats", "--json"]).out).objectValue?.int("historyWritten") ?? 0 < 300 {
            guard Date() < deadline else {
                Issue.record("300 lines relayed were not written within 1 s (10 flush intervals)")
                return
            }
        }
        // A second burst under way when chatd is killed: some of it may be lost, no more than
        // what was relayed since the last write.
        for n in 1...300 { try alice.line("late \(n)") }
        try bob.expect("<alice> late 300")
        #expect(try daemon.stop(signal: SIGKILL) != 0)

        let restarted = try Daemon(config: config, directory: daemon.directory)
        let kept = try lines(restarted, "#lobby", limit: 1_000).map(\.text)
        #expect(kept.filter { $0.hasPrefix("early ") }.count == 300, "lines older than the flush interval were lost")
        let late = kept.filter { $0.hasPrefix("late ") }
        // What was kept of the second burst is a prefix of it: lost lines are only the newest.
        #expect(late == (0..<late.count).map { "late \($0 + 1)" })
    }

    @Test("chatctl backup writes a consistent copy while chat goes on; a restart on the copy has the lines; bad paths are refused")
    func backup() throws {
        let daemon = try Daemon()
        let alice = try daemon.registered("alice")
        try alice.line("kept in the copy")
        try alice.line("/ping sent")
        try alice.expect("*** pong sent")
        let copy = daemon.directory + "/copy/history.db"
        try FileManager.default.createDirectory(atPath: daemon.directory + "/copy", withIntermediateDirectories: true)
        let made = try daemon.chatctl(["backup", copy])
        #expect(made.status == 0 && made.out.hasPrefix("history copied to \(copy) ("), "\(made.out)\(made.err)")
        let again = try daemon.chatctl(["backup", copy])
        #expect(again.status == 1 && again.err.contains("exists already"), "\(again.err)")
        try alice.line("said after the copy")
        try alice.line("/ping more")
        try alice.expect("*** pong more")
        // A daemon started on the copy has what was said before it, and nothing after.
        let fromCopy = try Daemon(config: #"{"history": {"path": "\#(copy)"}}"#)
        #expect(try lines(fromCopy, "#lobby").map(\.text) == ["kept in the copy"])
    }

    @Test("a store that cannot be opened leaves chat running, degraded in stats and the log")
    func degraded() throws {
        let directory = "/tmp/chatd-test-\(UUID().uuidString.prefix(8))"
        // A directory where the file should be: SQLite cannot open it.
        try FileManager.default.createDirectory(atPath: directory + "/state/history.db", withIntermediateDirectories: true)
        let daemon = try Daemon(directory: directory)
        try daemon.waitForLog("history degraded")
        let alice = try daemon.registered("alice")
        let bob = try daemon.registered("bob")
        try alice.line("chat goes on")
        try bob.expect("<alice> chat goes on")
        let stats = try JSONValue.parse(try daemon.chatctl(["stats", "--json"]).out).objectValue
        #expect(stats?.string("history")?.hasPrefix("degraded: ") == true, "\(String(describing: stats))")
        let history = try daemon.chatctl(["history", "#lobby"])
        #expect(history.status == 1 && history.err.contains("History is degraded"), "\(history.err)")
    }

    @Test("a history file from a newer chatd stops chatd with a clear error and exit 78")
    func newerFile() throws {
        let directory = "/tmp/chatd-test-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/history.db"
        let made = try Daemon.run([
            "/usr/bin/python3", "-c", "import sqlite3; c = sqlite3.connect('\(path)'); c.execute('PRAGMA user_version = 9'); c.commit()",
        ])
        #expect(made.status == 0, "\(made.err)")
        let run = try Daemon.runToCompletion([
            "--listen", "127.0.0.1:0", "--no-web", "--admin-socket", directory + "/admin.sock", "--state-directory", directory,
        ])
        #expect(run.status == 78, "\(run.output)")
        #expect(run.output.contains("was written by a newer chatd (history schema 9; this chatd knows up to 3)"), "\(run.output)")
    }

    @Test("a history file of the first schema (no topics) is upgraded in place by a newer chatd, keeping its lines")
    func upgradesOlderFile() throws {
        let directory = "/tmp/chatd-test-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/state", withIntermediateDirectories: true)
        // What the first chatd with history wrote (schema 1), statement for statement.
        let script = """
            import sqlite3
            c = sqlite3.connect('\(directory)/state/history.db')
            c.execute('CREATE TABLE messages (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, room TEXT NOT NULL, room_key TEXT NOT NULL, sender TEXT NOT NULL, text TEXT NOT NULL, action INTEGER NOT NULL)')
            c.execute('CREATE INDEX messages_by_room ON messages (room_key, id)')
            c.execute("INSERT INTO messages VALUES (41, 1764756000000, '#lobby', '#lobby', 'alice', 'said under schema 1', 0)")
            c.execute('PRAGMA user_version = 1')
            c.commit()
            """
        let made = try Daemon.run(["/usr/bin/python3", "-c", script])
        #expect(made.status == 0, "\(made.err)")
        let daemon = try Daemon(directory: directory)
        #expect(try lines(daemon, "#lobby").map(\.text) == ["said under schema 1"])
        let alice = try daemon.registered("alice")
        try alice.line("/topic upgraded")
        try alice.expect("*** alice set the topic of #lobby: upgraded")
        #expect(try daemon.stop() == 0)
        let version = try Daemon.run([
            "/usr/bin/python3", "-c",
            "import sqlite3; print(sqlite3.connect('\(directory)/state/history.db').execute('PRAGMA user_version').fetchone()[0])",
        ])
        #expect(version.out.trimmingCharacters(in: .whitespacesAndNewlines) == "3")
        let tables = try Daemon.run([
            "/usr/bin/python3", "-c",
            "import sqlite3; print(sqlite3.connect('\(directory)/state/history.db').execute(\"SELECT count(*) FROM accounts\").fetchone()[0])",
        ])
        #expect(tables.out.trimmingCharacters(in: .whitespacesAndNewlines) == "0", "the accounts table (schema 3) is there: \(tables)")
    }

    @Test("/topic sets a room's topic for everyone; joiners see it; chatctl rooms lists it; a restart keeps it, even in an empty room")
    func topics() throws {
        let daemon = try Daemon()
        let alice = try daemon.registered("alice")
        let bob = try daemon.registered("bob")
        try alice.expect("*** bob has joined #lobby")
        try alice.line("/topic Release day: <b>ship</b> it")
        try alice.expect("*** alice set the topic of #lobby: Release day: <b>ship</b> it")
        try bob.expect("*** alice set the topic of #lobby: Release day: <b>ship</b> it")
        try bob.line("/join #dev")
        try bob.line("/topic Build talk")
        try bob.expect("*** bob set the topic of #dev: Build talk")
        try bob.line("/topic " + String(repeating: "x", count: 301))
        try bob.expect("*** Error: A topic is at most 300 characters; that one has 301.")
        try alice.line("/topic #dev hijacked")
        try alice.expect("*** Error: You are not in #dev.")
        try alice.line("/topic #dev")
        try alice.expect(containing: "*** Topic of #dev: Build talk (set by bob, ")
        let rooms = try daemon.chatctl(["rooms"])
        #expect(rooms.out.contains("Release day: <b>ship</b> it") && rooms.out.contains("Build talk"), "\(rooms.out)")
        // JSON: shown after the join, with who set it and when.
        let bot = try daemon.connect()
        try bot.send(#"{"type":"hello","nick":"bot"}"# + "\n")
        let shown = try bot.expectJSON(type: "topic")
        #expect(shown.string("text") == "Release day: <b>ship</b> it" && shown.string("setBy") == "alice" && shown["changedBy"] == nil)
        // #dev empties: its topic stays.
        try bob.line("/part #dev")
        try bob.expect(containing: "bob has left #dev")
        #expect(try daemon.stop() == 0)

        let restarted = try Daemon(directory: daemon.directory)
        let carol = try restarted.connect()
        try carol.expect("*** Please choose a nickname:")
        try carol.line("carol")
        try carol.expect("*** carol has joined #lobby")
        let topic = try carol.readLine() ?? ""
        #expect(
            topic.hasPrefix("*** Topic of #lobby: Release day: <b>ship</b> it (set by alice, "), "right after the join notice: \(topic)")
        try carol.line("/join #dev")
        try carol.expect("*** carol has joined #dev")
        try carol.expect(containing: "*** Topic of #dev: Build talk (set by bob, ")
        try carol.line("/topic -delete")
        try carol.expect("*** carol cleared the topic of #dev")
        try carol.line("/topic")
        try carol.expect("*** #dev has no topic")
    }

    @Test("chatctl purge removes a nick's lines, a room's, or those before a date: gone from chatctl history, the scrollback and a restart")
    func purge() throws {
        let daemon = try Daemon()
        let spammer = try daemon.registered("Spammer")
        let alice = try daemon.registered("alice")
        try spammer.line("buy cheap watches")
        try alice.line("good morning")
        try spammer.line("/me sells watches")
        try alice.line("/join #dev")
        try alice.line("in dev")
        try alice.line("/ping sent")
        try alice.expect("*** pong sent")
        // Refusals: nothing named, a bad date, history off elsewhere.
        let nothing = try daemon.chatctl(["purge"])
        #expect(nothing.status != 0 && nothing.err.contains("Say what to purge"), "\(nothing.err)")
        let badDate = try daemon.chatctl(["purge", "--before", "yesterday"])
        #expect(badDate.status != 0 && badDate.err.contains("is not a date"), "\(badDate.err)")

        let purged = try daemon.chatctl(["purge", "--nick", "SPAMMER"])
        #expect(purged.status == 0 && purged.out.contains("purged 2 lines"), "\(purged.out) \(purged.err)")
        #expect(try lines(daemon, "#lobby").map(\.text) == ["good morning"])
        // Whoever joins next is not shown them.
        let bob = try daemon.registered("bob")
        try bob.line("/history #lobby")
        try bob.expect("*** Scrollback of #lobby (1 line, times in UTC):")
        #expect(try bob.readLine()?.hasSuffix("<alice> good morning") == true)
        let room = try daemon.chatctl(["purge", "--room", "#DEV"])
        #expect(room.out.contains("purged 1 line"), "\(room.out)")
        #expect(try lines(daemon, "#dev").isEmpty)
        #expect(try daemon.stop() == 0)

        let restarted = try Daemon(directory: daemon.directory)
        #expect(try lines(restarted, "#lobby").map(\.text) == ["good morning"])
        let carol = try restarted.connect()
        try carol.send(#"{"type":"hello","nick":"carol"}"# + "\n")
        let replay = try carol.expectJSON(type: "history")
        guard case .array(let kept)? = replay["lines"] else { return }
        #expect(kept.compactMap { $0.objectValue?.string("text") } == ["good morning"])
        let future = try restarted.chatctl(["purge", "--before", "2999-01-01"])
        #expect(future.out.contains("purged 1 line"), "\(future.out)")
        #expect(try lines(restarted, "#lobby").isEmpty)
    }

    @Test("history.maxMessagesPerRoom is enforced at start: a room keeps its newest lines, and replays no more")
    func retention() throws {
        let daemon = try Daemon()
        let alice = try daemon.registered("alice")
        for n in 1...8 { try alice.line("line \(n)") }
        try alice.line("/ping sent")
        try alice.expect("*** pong sent")
        #expect(try daemon.stop() == 0)
        let config = #"{"history": {"maxMessagesPerRoom": 3, "maxAgeDays": 30}}"#
        let restarted = try Daemon(config: config, directory: daemon.directory)
        #expect(try lines(restarted, "#lobby").map(\.text) == ["line 6", "line 7", "line 8"])
        let bob = try restarted.connect()
        try bob.send(#"{"type":"hello","nick":"bob"}"# + "\n")
        let replay = try bob.expectJSON(type: "history")
        guard case .array(let kept)? = replay["lines"] else { return }
        #expect(kept.count == 3)
    }
}
