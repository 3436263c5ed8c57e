import ChatCore
import Foundation
import Glibc
import Synchronization
import Testing

/// One misbehaving client must not take chatd down, slow the others, grow memory without bound,
/// or reach another user's terminal.
@Suite("hostile input and overload")
struct HostileInputTests {
    /// chatd's resident memory in KiB, from /proc.
    static func rss(_ pid: Int32) -> Int {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    @Test("a client that stops reading is cut off once its send queue is full; a reader gets every message; memory stays bounded")
    func slowConsumer() throws {
        let daemon = try Daemon(
            config: #"{"limits": {"sendQueueBytes": 65536, "maxLineBytes": 8192, "floodRate": 100000, "floodBurst": 100000}}"#)
        let slow = try daemon.connect()
        var small: Int32 = 4096
        setsockopt(slow.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        try slow.register("slow")
        let reader = try daemon.connect()
        try reader.register("reader")
        let sender = try daemon.connect()
        try sender.register("sender")
        try reader.expect("*** sender has joined #lobby")
        let before = Self.rss(daemon.pid)

        // 12 MB through the room: far more than the kernel buffers and the 64 KiB send queue.
        // The reader keeps up on its own thread, as a well-behaved client does.
        let count = 4000
        let outcome = Mutex((received: 0, slowQuit: false, error: String?.none))
        let done = DispatchSemaphore(value: 0)
        let readerThread = Thread {
            defer { done.signal() }
            do {
                while outcome.withLock({ $0.received }) < count {
                    let line = try reader.expect(timeout: 20, "message") { $0.hasPrefix("<sender> ") || $0.contains("slow has quit") }
                    outcome.withLock {
                        if line.contains("slow has quit") {
                            $0.slowQuit = line == "*** slow has quit (Send queue exceeded)"
                        } else {
                            $0.received += 1
                        }
                    }
                }
            } catch {
                outcome.withLock { $0.error = "\(error)" }
            }
        }
        readerThread.start()
        let payload = String(repeating: "x", count: 3000)
        var peak = before
        for i in 0..<count {
            try sender.line("\(i) \(payload)")
            if i % 200 == 0 { peak = max(peak, Self.rss(daemon.pid)) }
        }
        done.wait()
        let (received, slowQuit, error) = outcome.withLock { ($0.received, $0.slowQuit, $0.error) }
        #expect(error == nil)
        #expect(received == count)
        #expect(slowQuit)
        // The slow client's backlog was dropped with it: growth stays far below the 12 MB sent.
        #expect(peak - before < 8192, "RSS grew from \(before) KiB to \(peak) KiB")
        let stats = try daemon.chatctl(["--json", "stats"])
        #expect(stats.out.contains(#""clients":2"#))
    }

    @Test("a client's own large replies slow it down instead of getting it disconnected")
    func ownRepliesApplyBackpressure() throws {
        let daemon = try Daemon(
            config:
                #"{"limits": {"sendQueueBytes": 4096, "maxClientsPerAddress": 500, "connectBurstPerAddress": 500, "connectsPerAddressPerMinute": 100000}}"#
        )
        // 180 members with long nicks: each /who reply is about 4.6 KB, more than the queue.
        var members: [Client] = []
        for i in 0..<180 {
            let member = try daemon.connect()
            try member.send("member\(String(i).padding(toLength: 18, withPad: "x", startingAt: 0))\r\n")
            members.append(member)
        }
        for member in members { try member.expect(containing: "You are now known as member") }
        let asker = try daemon.connect()
        var small: Int32 = 4096
        setsockopt(asker.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
        try asker.register("asker")  // reads up to its own member list on joining, 181 names
        // Twenty lists asked for at once, unread for now: about 90 KB of the client's own replies.
        try asker.send(String(repeating: "/who\r\n", count: 20))
        var lists = 0
        while lists < 20 {
            if try asker.expect(timeout: 20, "a member list", { $0.hasPrefix("*** #lobby (181 users): ") }).count > 4000 { lists += 1 }
        }
        try asker.expectNothingElse()  // still connected, and nothing lost
        withExtendedLifetime(members) {}
    }

    @Test("telnet negotiation from clients that never read is answered once per option: memory stays bounded")
    func telnetNegotiationFlood() throws {
        let daemon = try Daemon(config: #"{"limits": {"floodRate": 1000, "floodBurst": 1000}}"#)
        let observer = try daemon.registered("observer")
        // Twenty registered connections from one address (the per-address limit), none reading.
        var attackers: [Client] = []
        for i in 0..<20 {
            let attacker = try daemon.connect(from: "127.0.0.2")
            var small: Int32 = 4096
            setsockopt(attacker.fd, SOL_SOCKET, SO_RCVBUF, &small, socklen_t(MemoryLayout<Int32>.size))
            try attacker.register("attacker\(i)")
            attackers.append(attacker)
        }
        try observer.expect("*** attacker19 has joined #lobby")
        let before = Self.rss(daemon.pid)
        // 512 KiB of IAC DO x and IAC WILL x each, every option over and over: 10 MB in all, which
        // answered each time would queue 10 MB of refusals that nobody reads.
        var burst: [UInt8] = []
        for i in 0..<(512 * 1024 / 6) {
            let option = UInt8(truncatingIfNeeded: i)
            burst += [255, 253, option, 255, 251, option]
        }
        for (i, attacker) in attackers.enumerated() {
            try attacker.send(burst)
            try attacker.line("done \(i)")
        }
        // Each line comes after its burst: once all are relayed, every byte was read.
        var pending = Set((0..<20).map { "<attacker\($0)> done \($0)" })
        while !pending.isEmpty { pending.remove(try observer.expect(timeout: 30, "\(pending)") { pending.contains($0) }) }
        let after = Self.rss(daemon.pid)
        #expect(after - before < 4096, "RSS grew from \(before) KiB to \(after) KiB")
        // The first attacker got one refusal per option and verb among its text, and no more.
        let first = attackers[0]
        try first.line("/ping sync")
        var refusals: [[UInt8]] = []
        var text: [UInt8] = []
        while !text.reversed().starts(with: "*** pong sync\r\n".utf8.reversed()) {
            let byte = try #require(try first.readBytes(1, timeout: 20))
            if byte == [255] {
                refusals.append(byte + (try #require(try first.readBytes(2))))
            } else {
                text += byte
            }
        }
        #expect(refusals.count == 512)
        #expect(Set(refusals).count == 512)
        #expect(refusals.allSatisfy { $0[1] == 252 || $0[1] == 254 })
        withExtendedLifetime(attackers) {}
    }

    @Test("flooding is delayed, then cut off, while the others' messages still flow")
    func flood() throws {
        let daemon = try Daemon(config: #"{"limits": {"floodRate": 4, "floodBurst": 3, "floodQueueLines": 4}}"#)
        let observer = try daemon.connect()
        try observer.register("observer")
        let flooder = try daemon.connect()
        try flooder.register("flooder")
        let other = try daemon.connect()
        try other.register("other")
        try observer.expect("*** other has joined #lobby")

        // Within the burst and the queue: every line arrives, the held ones later, in order.
        let start = Date()
        try flooder.send((1...6).map { "line \($0)\r\n" }.joined())
        for i in 1...6 { try observer.expect("<flooder> line \(i)") }
        #expect(Date().timeIntervalSince(start) >= 0.5, "held lines were not delayed")

        // Far beyond: cut off.
        try flooder.send((1...50).map { "spam \($0)\r\n" }.joined())
        try flooder.expect("*** Closing connection: Excess flood")
        try observer.expect("*** flooder has quit (Excess flood)")
        try other.line("still talking")
        try observer.expect("<other> still talking")
    }

    @Test("a paste of 100 lines from telnet is relayed whole, paced, with one notice; a sustained flood is still cut off")
    func paste() throws {
        // The default burst and queue; a quicker rate than the default 5 a second keeps it short.
        let daemon = try Daemon(config: #"{"limits": {"floodRate": 50}}"#)
        let observer = try daemon.registered("observer")
        let paster = try daemon.registered("paster")
        try observer.expect("*** paster has joined #lobby")
        try paster.send((1...100).map { "pasted line \($0)\r\n" }.joined())
        for n in 1...100 { try observer.expect("<paster> pasted line \(n)") }
        let notice = try paster.expect(containing: "Slowing down")
        #expect(notice.hasPrefix("*** Slowing down: ") && notice.hasSuffix(" lines queued, sent at 50 a second."), "\(notice)")
        try paster.line("/ping after")
        try paster.expect("*** pong after")
        #expect(!paster.received.contains { $0.contains("Slowing down") }, "told once")
        // Far past the queue: cut off, as before.
        try paster.send((1...400).map { "flood \($0)\r\n" }.joined())
        try paster.expect("*** Closing connection: Excess flood")
        try observer.expect("*** paster has quit (Excess flood)")
    }

    @Test("connection limits refuse with their reason: per address, in total, and the connect rate")
    func connectionLimits() throws {
        let daemon = try Daemon(config: #"{"limits": {"maxClientsPerAddress": 2, "maxClients": 3}}"#)
        let first = try daemon.connect()
        let second = try daemon.connect()
        try first.expect("*** Please choose a nickname:")
        try second.expect("*** Please choose a nickname:")
        #expect(try daemon.connect().readUntilClosed() == ["*** Too many connections from your address (at most 2)."])
        let elsewhere = try daemon.connect(from: "127.0.0.2")
        try elsewhere.expect("*** Please choose a nickname:")
        #expect(
            try daemon.connect(from: "127.0.0.3").readUntilClosed() == ["*** The server is full (3 connections); please try again later."])

        let rated = try Daemon(config: #"{"limits": {"connectBurstPerAddress": 2, "connectsPerAddressPerMinute": 1}}"#)
        for _ in 0..<2 { try rated.connect(from: "127.0.0.4").expect("*** Please choose a nickname:") }
        #expect(
            try rated.connect(from: "127.0.0.4").readUntilClosed() == [
                "*** Too many connection attempts from your address; please wait a moment and try again."
            ])
        let stats = try rated.chatctl(["--json", "stats"])
        #expect(stats.out.contains(#""connect_rate":1"#))
        withExtendedLifetime((first, second, elsewhere)) {}
    }

    @Test("a connection that never picks a nickname is closed after the timeout")
    func nickTimeout() throws {
        let daemon = try Daemon(config: #"{"limits": {"nickTimeoutSeconds": 1}}"#)
        let idle = try daemon.connect()
        try idle.expect("*** Please choose a nickname:")
        #expect(try idle.readUntilClosed(timeout: 10) == ["*** Closing connection: No nickname chosen within 1 second"])
    }

    @Test("repeated overlong lines disconnect with a reason")
    func repeatedOverlongLines() throws {
        let daemon = try Daemon(config: #"{"limits": {"maxLineBytes": 64, "maxOverlongLines": 2}}"#)
        let client = try daemon.connect()
        try client.register("long")
        try client.line(String(repeating: "y", count: 200))
        try client.expect("*** Error: Line too long: at most 64 bytes. It was not sent.")
        try client.line(String(repeating: "y", count: 200))
        try client.expect("*** Closing connection: Excess line length")
    }

    @Test("a browser gets a short HTTP error, TLS and binary data are closed at once, byte-at-a-time input works")
    func wrongProtocols() throws {
        let daemon = try Daemon()
        let browser = try daemon.connect()
        try browser.send("GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\n\r\n")
        let response = try browser.readUntilClosed()
        #expect(response.first == "HTTP/1.1 400 Bad Request")
        #expect(response.contains("Connection: close"))
        #expect(response.contains("Connect with the chat client, telnet or nc (telnet HOST PORT)."))
        #expect(
            response.last == "For the web client, open port \(try daemon.webPort()) in your browser: http://HOST:\(try daemon.webPort())/")

        let tls = try daemon.connect()
        try tls.send([0x16, 0x03, 0x01, 0x00, 0xA5, 0x01, 0x00, 0x00, 0xA1, 0x03, 0x03] + [UInt8](repeating: 0x42, count: 160))
        #expect(try tls.readUntilClosed().allSatisfy { $0.hasPrefix("***") })  // the greeting only, then closed

        let garbage = try daemon.connect()
        try garbage.send((0..<64).map { UInt8(truncatingIfNeeded: $0 &* 37) })
        _ = try garbage.readUntilClosed()

        let slowTyper = try daemon.connect()
        try slowTyper.expect("*** Please choose a nickname:")
        for byte in Array("typist\r\n".utf8) { try slowTyper.send([byte]) }
        try slowTyper.expect(containing: "You are now known as typist")

        let stats = try daemon.chatctl(["--json", "stats"])
        #expect(stats.out.contains(#""http":1"#) && stats.out.contains(#""not_text":2"#), "\(stats.out)")
    }
}
