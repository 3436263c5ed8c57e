import ChatCore
import Foundation
import Glibc
import Synchronization
import Testing

/// The admin socket and chatctl, end to end: the built chatd and chatctl binaries.
@Suite("admin socket and chatctl")
struct AdminTests {
    private func json(_ text: String) throws -> JSONValue {
        try JSONValue.parse(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    @Test("who lists the clients with their rooms, as a table and as JSON")
    func who() throws {
        let daemon = try Daemon()
        let alice = try daemon.connect()
        try alice.register("alice")
        try alice.line("/join #dev")
        try alice.expect("*** #dev (1 user): @alice")
        let bot = try daemon.connect()
        try bot.send(#"{"type":"hello","nick":"bot"}"# + "\n")
        try bot.expectJSON(type: "welcome")
        // A program that names itself in its hello is shown by that name.
        let named = try daemon.connect()
        try named.send(#"{"type":"hello","nick":"deployer","client":"deploybot 2.1"}"# + "\n")
        try named.expectJSON(type: "welcome")
        let page = try WebSocketClient(port: try daemon.webPort())
        try page.send(text: #"{"type":"hello","nick":"reader","client":"web"}"#)
        try page.expectJSON(type: "welcome")

        let table = try daemon.chatctl(["who"])
        #expect(table.status == 0, "\(table.err)")
        let lines = table.out.split(separator: "\n")
        #expect(lines.first?.hasPrefix("NICK") == true)
        #expect(lines.contains { $0.hasPrefix("alice") && $0.contains("#lobby,#dev") && $0.hasSuffix("line") })
        #expect(lines.contains { $0.hasPrefix("bot") && $0.contains("#lobby") && $0.hasSuffix("json") })
        #expect(lines.contains { $0.hasPrefix("deployer") && $0.hasSuffix("deploybot 2.1") }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix("reader") && $0.hasSuffix("web") }, "\(lines)")

        let result = try daemon.chatctl(["who", "--json"])
        #expect(result.status == 0)
        guard case .array(let entries)? = try json(result.out)["clients"] else {
            Issue.record("no clients array: \(result.out)")
            return
        }
        let clients = entries.compactMap(ClientInfo.init(json:))
        #expect(clients.map(\.nick) == ["alice", "bot", "deployer", "reader"])
        #expect(clients[0].rooms == ["#lobby", "#dev"])
        #expect(clients[0].address.hasPrefix("127.0.0.1:"))
    }

    @Test("kick disconnects a client; it and its rooms see why; an unknown nick is refused with status 1")
    func kick() throws {
        let daemon = try Daemon()
        let alice = try daemon.connect()
        try alice.register("alice")
        let bob = try daemon.connect()
        try bob.register("bob")
        try alice.expect("*** bob has joined #lobby")

        let kicked = try daemon.chatctl(["kick", "BOB", "flooding", "the", "lobby"])
        #expect(kicked.status == 0)
        #expect(kicked.out == "kicked bob\n")
        try bob.expect("*** Closing connection: Kicked by an operator: flooding the lobby")
        #expect(try bob.readUntilClosed().isEmpty)
        try alice.expect("*** bob has quit (Kicked by an operator: flooding the lobby)")

        let missing = try daemon.chatctl(["kick", "nobody"])
        #expect(missing.status == 1)
        #expect(missing.err.contains("There is nobody called nobody connected."))

        // A program learns it was a kick from the bye's code (not to reconnect), and a browser
        // from the same, before the WebSocket's policy close.
        let bot = try daemon.connect()
        try bot.send(#"{"type":"hello","nick":"bot"}"# + "\n")
        try bot.expectJSON(type: "welcome")
        #expect(try daemon.chatctl(["kick", "bot"]).status == 0)
        let bye = try bot.expectJSON(type: "bye")
        #expect(bye["code"] == .string("kicked") && bye["reason"] == .string("Kicked by an operator"))
        let page = try WebSocketClient(port: try daemon.webPort())
        try page.register("page")
        #expect(try daemon.chatctl(["kick", "page"]).status == 0)
        #expect(try page.expectJSON(type: "bye")["code"] == .string("kicked"))
        #expect(try page.expectClose() == (1008, "Kicked by an operator"))
    }

    @Test("say reaches everyone as the server, or one room")
    func say() throws {
        let daemon = try Daemon()
        let alice = try daemon.connect()
        try alice.register("alice")
        let bot = try daemon.connect()
        try bot.send(#"{"type":"hello","nick":"bot"}"# + "\n")
        try bot.expectJSON(type: "welcome")
        let lurker = try daemon.connect()  // not registered yet: still told
        try lurker.expect("*** Please choose a nickname:")

        #expect(try daemon.chatctl(["say", "maintenance", "at", "noon"]).status == 0)
        try alice.expect("*** Announcement: maintenance at noon")
        try lurker.expect("*** Announcement: maintenance at noon")
        let announcement = try bot.expectJSON(type: "announcement")
        #expect(announcement["text"] == .string("maintenance at noon"))
        #expect(announcement["room"] == nil)

        try alice.line("/join #dev")
        try alice.expect("*** #dev (1 user): @alice")
        #expect(try daemon.chatctl(["say", "--room", "#dev", "deploying"]).status == 0)
        try alice.expect("*** Announcement to #dev: deploying")
        try bot.expectNothingElse(json: true)
        let noRoom = try daemon.chatctl(["say", "--room", "#nowhere", "hello"])
        #expect(noRoom.status == 1)
        #expect(noRoom.err.contains("There is no room #nowhere."))
    }

    @Test("reload applies a good config, refuses a broken one with its errors, and the old one keeps serving")
    func reload() throws {
        let daemon = try Daemon(config: #"{"server": {"motd": ["first"]}, "eventLoops": 3}"#)
        try #"{"server": {"motd": ["second"]}, "limits": {"maxLineBytes": 100}, "eventLoops": 1}"#.write(
            toFile: daemon.configPath, atomically: true, encoding: .utf8)
        let good = try daemon.chatctl(["reload"])
        #expect(good.status == 0, "\(good.err)")
        #expect(good.out.contains("applied: limits.maxLineBytes, server.motd"))
        #expect(good.out.contains("needs a restart to take effect: eventLoops"))
        let client = try daemon.connect()
        try client.expect("*** second")
        try client.register("alice", prompted: false)
        try client.line(String(repeating: "x", count: 150))
        try client.expect("*** Error: Line too long: at most 100 bytes. It was not sent.")

        try #"{"server": {"motd": 5}, "limits": {"maxLineBytez": 1}}"#.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        let broken = try daemon.chatctl(["reload"])
        #expect(broken.status == 1)
        #expect(broken.err.contains("The new configuration is invalid; the old one stays in force."))
        #expect(broken.err.contains("server.motd: expected an array of strings, got a number"))
        #expect(broken.err.contains(#"limits.maxLineBytez: unknown key (did you mean "maxLineBytes"?)"#))
        let after = try daemon.connect()
        try after.expect("*** second")  // still the last good config

        // SIGHUP does the same.
        try #"{"server": {"motd": ["third"]}, "limits": {"maxLineBytes": 100}}"#.write(
            toFile: daemon.configPath, atomically: true, encoding: .utf8)
        kill(daemon.pid, SIGHUP)
        try daemon.waitForLog("applied=server.motd")
        try daemon.connect().expect("*** third")
    }

    @Test("a banned address is refused at connect and its clients are cut off; bans survive a restart")
    func bans() throws {
        let daemon = try Daemon()
        daemon.keepDirectory.withLock { $0 = true }
        let local = try daemon.connect()
        try local.register("alice")
        let remote = try daemon.connect(from: "127.0.0.2")
        try remote.register("mallory")

        let banned = try daemon.chatctl(["ban", "127.0.0.2", "--for", "1h", "--reason", "spam"])
        #expect(banned.status == 0, "\(banned.err)")
        #expect(banned.out.hasPrefix("banned 127.0.0.2 for 1h00m"))
        try remote.expect("*** Closing connection: Banned by an operator: spam")
        try local.expect("*** mallory has quit (Banned by an operator: spam)")
        let retry = try daemon.connect(from: "127.0.0.2")
        #expect(try retry.readUntilClosed() == ["*** You are banned from this server: spam"])

        #expect(try daemon.chatctl(["ban", "Evil", "--reason", "impersonation"]).status == 0)
        let evil = try daemon.connect()
        try evil.expect("*** Please choose a nickname:")
        try evil.line("EVIL")
        try evil.expect("*** Error: That nickname is banned: impersonation")
        // Nor can it come back with an invisible character added, or by its look-alike.
        try evil.line("Evil\u{34F}")
        #expect(try evil.expect(containing: "Error").contains("cannot contain 'U+34F'"))
        try evil.line("EviI")  // a capital I for the l
        try evil.expect("*** Error: That nickname is banned: impersonation")
        let notATarget = try daemon.chatctl(["ban", "not a target!"])
        #expect(notATarget.status == 1)
        #expect(
            notATarget.err
                == "chatctl: not a target! is not a valid nickname, an address (like 203.0.113.7) or a CIDR block (like 198.51.100.0/24).\n"
        )
        let unknown = try daemon.chatctl(["frob"])
        #expect(unknown.status == 64)
        #expect(unknown.err.hasPrefix("chatctl: unknown command 'frob'. The commands are: who, kick, say,"), "\(unknown.err)")

        #expect(try daemon.stop() == 0)
        let restarted = try Daemon(directory: daemon.directory)
        let list = try restarted.chatctl(["bans", "--json"])
        guard case .array(let entries)? = try json(list.out)["bans"] else {
            Issue.record("no bans array: \(list.out)")
            return
        }
        #expect(entries.compactMap(Ban.init(json:)).map(\.targetText) == ["127.0.0.2", "Evil"])
        #expect(try restarted.connect(from: "127.0.0.2").readUntilClosed() == ["*** You are banned from this server: spam"])
        #expect(try restarted.chatctl(["unban", "127.0.0.2"]).status == 0)
        #expect(try restarted.chatctl(["unban", "127.0.0.2"]).status == 1)
        try restarted.connect(from: "127.0.0.2").expect("*** Please choose a nickname:")
    }

    @Test("an unwritable state directory is warned about at start, and a ban says plainly that it is in force but not saved")
    func unwritableStateDirectory() throws {
        let directory = "/tmp/chatd-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "a file where the state directory should be".write(toFile: directory + "/state", atomically: false, encoding: .utf8)
        let daemon = try Daemon(directory: directory)
        let problem = "the state directory \(directory)/state is not a directory"
        try daemon.waitForLog(problem + ": bans will take effect but not survive a restart")
        let remote = try daemon.connect(from: "127.0.0.2")
        try remote.register("mallory")
        let ban = try daemon.chatctl(["ban", "127.0.0.2"])
        #expect(ban.status == 1)
        #expect(ban.err == "chatctl: The change is in force until chatd restarts, but it could not be saved: \(problem).\n", "\(ban.err)")
        try remote.expect("*** Closing connection: Banned by an operator")
        #expect(try daemon.connect(from: "127.0.0.2").readUntilClosed() == ["*** You are banned from this server."])
    }

    @Test("stats counts what happened")
    func stats() throws {
        let daemon = try Daemon()
        let alice = try daemon.registered("alice")
        let bob = try daemon.registered("bob")
        try alice.line("one")
        try bob.expect("<alice> one")
        try alice.line("/msg bob two")
        try bob.expect("*alice* two")
        #expect(try daemon.chatctl(["drain"]).status == 0)
        _ = try daemon.connect().readUntilClosed()
        #expect(try daemon.chatctl(["undrain"]).status == 0)

        let result = try daemon.chatctl(["--json", "stats"])
        #expect(result.status == 0)
        let stats = try #require(ServerStats(json: try json(result.out)))
        #expect(stats.clients == 2)
        #expect(stats.peakClients == 2)
        #expect(stats.connections == 2)
        #expect(stats.messages == 2)
        #expect(stats.delivered >= 2)
        #expect(stats.accepted == 2)
        #expect(stats.refused == ["draining": 1])
        #expect(stats.listeners == ["chat": 2])
        #expect(stats.registrations == 2)
        #expect(stats.disconnects == [:], "the refused one is counted among the refusals only")
        #expect(stats.rooms == 1)
        #expect(stats.bytesIn > 0 && stats.bytesOut > stats.bytesIn)
        #expect(!stats.draining)
        let table = try daemon.chatctl(["stats"])
        #expect(table.out.contains("clients:      2 (peak 2; 2 registrations)"))
        #expect(table.out.contains("connections:  2 (parked 0; chat=2)"))
        #expect(table.out.contains("refused:      draining=1"))
        #expect(table.out.contains("disconnects:  0"))
    }

    @Test("drain refuses newcomers with the message; with a deadline, chatd stops once the last client leaves")
    func drain() throws {
        let daemon = try Daemon()
        let alice = try daemon.connect()
        try alice.register("alice")
        let drained = try daemon.chatctl(["drain", "--message", "back at noon", "--shutdown-after", "1h"])
        #expect(drained.status == 0)
        try alice.expect("*** Announcement: The server will shut down within 3600 seconds: back at noon")
        #expect(try daemon.connect().readUntilClosed() == ["*** back at noon"])
        try alice.line("/quit")
        _ = try alice.readUntilClosed()
        #expect(try daemon.stop(signal: 0, timeout: 15) == 0)  // exits by itself
        #expect(daemon.output.contains("drained: the last client has left"))
    }

    @Test("only root, chatd's own user and the admin group may use the socket")
    func permissions() throws {
        guard getuid() == 0 else {
            print("skipped: the permission test needs root to act as another user (setpriv)")
            return
        }
        let asNobody = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        let daemon = try Daemon()
        // The socket is 0660 root-owned: another user cannot even connect.
        let denied = try daemon.chatctl(["who"], prefix: asNobody)
        #expect(denied.status == 77)
        #expect(denied.err.contains("permission denied (root and members of group root may use it)"))
        // With the file opened up, the daemon's credential check still refuses.
        chmod(daemon.adminSocket, 0o666)
        let refused = try daemon.chatctl(["who"], prefix: asNobody)
        #expect(refused.status == 77)
        #expect(refused.err.contains("Permission denied: only root"))

        // A member of admin.group is let in.
        let nogroup = getgrgid(65534).map { String(cString: $0.pointee.gr_name) } ?? "nogroup"
        let grouped = try Daemon(config: #"{"admin": {"group": "\#(nogroup)"}}"#)
        let allowed = try grouped.chatctl(["who"], prefix: asNobody)
        #expect(allowed.status == 0, "\(allowed.err)")
    }

    @Test("garbage on the admin socket gets errors or a close, and chat goes on")
    func garbage() throws {
        let daemon = try Daemon()
        let alice = try daemon.connect()
        try alice.register("alice")
        let bob = try daemon.connect()
        try bob.register("bob")

        let admin = try Client(unixPath: daemon.adminSocket)
        try admin.send("this is not json\n")
        #expect(try admin.readLine()?.contains(#""code":"bad_request""#) == true)
        try admin.send(#"{"v":1,"cmd":"explode","id":9}"# + "\n")
        let unknown = try admin.readLine() ?? ""
        #expect(unknown.contains(#""code":"unknown_command""#) && unknown.contains(#""id":"9""#))
        try admin.send(#"{"v":2,"cmd":"who"}"# + "\n")
        #expect(try admin.readLine()?.contains("unsupported_version") == true)
        try admin.send(#"{"v":1,"cmd":"kick"}"# + "\n")
        #expect(try admin.readLine()?.contains(#"missing member \"nick\""#) == true)
        try admin.send(#"{"v":1,"cmd":"who"}"# + "\n")
        #expect(try admin.readLine()?.contains(#""ok":true"#) == true)

        let huge = try Client(unixPath: daemon.adminSocket)
        try? huge.send([UInt8](repeating: UInt8(ascii: "a"), count: 200_000))
        #expect(try huge.readUntilClosed().first?.contains("too_large") == true)

        let silent = try Client(unixPath: daemon.adminSocket)
        try silent.send(#"{"v":1,"cmd":"#)  // half a request, then nothing

        try alice.line("still chatting")
        try bob.expect("<alice> still chatting")
        #expect(try daemon.chatctl(["who"]).status == 0)
        withExtendedLifetime(silent) {}
    }

    @Test("chatctl says clearly when chatd is not running, or the path is not a socket")
    func unreachable() throws {
        let chatctl = Daemon.binDirectory.appendingPathComponent("chatctl").path
        let result = try Daemon.run([chatctl, "--socket", "/tmp/no-chatd-here.sock", "who"])
        #expect(result.status == 69)
        #expect(result.err == "chatctl: cannot connect to /tmp/no-chatd-here.sock: no such file — is chatd running?\n")
        let directory = try Daemon.run([chatctl, "--socket", "/tmp", "who"])
        #expect(directory.status == 69)
        #expect(directory.err.hasPrefix("chatctl: /tmp is a directory, not chatd's admin socket"), "\(directory.err)")
        let file = try Daemon.run([chatctl, "--socket", "/etc/hostname", "who"])
        #expect(file.err == "chatctl: /etc/hostname is not a socket, so not chatd's admin socket\n")
    }

    @Test("the admin socket is not put in, or used from, a directory another user could write to")
    func adminDirectoryOwner() throws {
        // A directory another user made first, open to everyone, where chatd would put its socket.
        let planted = "/tmp/chatd-test-planted-\(getpid())"
        try FileManager.default.createDirectory(atPath: planted, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: planted) }
        try "{}".write(toFile: planted + "/chatd.json", atomically: false, encoding: .utf8)
        chmod(planted, 0o777)
        let started = try Daemon.runToCompletion([
            "--config", planted + "/chatd.json", "--no-web", "--listen", "127.0.0.1:0", "--admin-socket", planted + "/admin.sock",
            "--state-directory", planted + "/state",
        ])
        #expect(started.status == 1)
        #expect(started.output.contains("refusing to put the admin socket in \(planted): \(planted) may be written by others (mode 777)"))
        chmod(planted, 0o755)
        chown(planted, 65534, 65534)  // nobody's
        let owned = try Daemon.runToCompletion([
            "--config", planted + "/chatd.json", "--no-web", "--listen", "127.0.0.1:0", "--admin-socket", planted + "/admin.sock",
            "--state-directory", planted + "/state",
        ])
        #expect(owned.status == 1)
        #expect(owned.output.contains("belongs to another user (uid 65534)"), "\(owned.output)")

        // chatctl run by a user without XDG_RUNTIME_DIR looks in /tmp/chatd-UID: not if another
        // user could have put a socket there.
        let user: UInt32 = 65534
        let fallback = "/tmp/chatd-\(user)"
        try? FileManager.default.removeItem(atPath: fallback)
        try FileManager.default.createDirectory(atPath: fallback, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: fallback) }
        chmod(fallback, 0o777)
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = unixAddress(fallback + "/admin.sock")
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        listen(listener, 4)
        defer { close(listener) }
        chmod(fallback + "/admin.sock", 0o777)
        let asked = try Daemon.run([
            "/usr/bin/env", "-i", "PATH=/usr/bin:/bin", "/usr/bin/setpriv", "--reuid=\(user)", "--regid=\(user)", "--clear-groups",
            Daemon.binDirectory.appendingPathComponent("chatctl").path, "who",
        ])
        #expect(asked.status == 69)
        #expect(
            asked.err.contains("refusing to use \(fallback)/admin.sock: \(fallback) may be written by others (mode 777)"), "\(asked.err)")
    }
}
