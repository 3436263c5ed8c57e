import ChatCore
import Foundation
import Testing

/// chatd under systemd's protocols, with the test playing systemd: a NOTIFY_SOCKET it reads,
/// WATCHDOG_USEC, and systemd-socket-activate passing the listening sockets.
@Suite("systemd integration")
struct SystemdTests {
    @Test("READY=1 once the listeners accept, STATUS with live counts, STOPPING=1 on SIGTERM; no watchdog pings unless asked")
    func readyStatusStopping() throws {
        let notify = try NotifySocket()
        let daemon = try Daemon(environment: ["NOTIFY_SOCKET": notify.path])
        let ready = try notify.expect("READY=1") { $0.contains("READY=1") }
        // At that moment both the chat port and the admin socket accept.
        let client = try daemon.connect()
        try client.expect("*** Please choose a nickname:")
        #expect(try daemon.chatctl(["who"]).status == 0)
        #expect(ready.contains("STATUS=0 clients in 0 rooms"))

        try client.register("alice", prompted: true)
        try notify.expect("STATUS with one client") { $0 == "STATUS=1 client in 1 room" }
        #expect(try daemon.stop() == 0)
        try notify.expect("STOPPING=1") { $0.hasPrefix("STOPPING=1") }
        #expect(!notify.messages.contains { $0.contains("WATCHDOG=1") })
    }

    @Test("SIGHUP: RELOADING=1 with MONOTONIC_USEC, then READY=1, for a good and for a broken config")
    func reload() throws {
        let notify = try NotifySocket()
        let daemon = try Daemon(environment: ["NOTIFY_SOCKET": notify.path])
        try notify.expect("READY=1") { $0.contains("READY=1") }

        try #"{"server": {"motd": ["reloaded"]}}"#.write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        kill(daemon.pid, SIGHUP)
        let reloading = try notify.expect("RELOADING=1") { $0.contains("RELOADING=1") }
        #expect(reloading.range(of: #"MONOTONIC_USEC=\d+"#, options: .regularExpression) != nil)
        let readyAgain = try notify.expect("READY=1 after the reload") { $0.contains("READY=1") }
        #expect(!readyAgain.contains("Reload failed"))
        try daemon.connect().expect("*** reloaded")

        try "{ not json".write(toFile: daemon.configPath, atomically: true, encoding: .utf8)
        kill(daemon.pid, SIGHUP)
        try notify.expect("RELOADING=1") { $0.contains("RELOADING=1") }
        let refused = try notify.expect("READY=1 after the broken reload") { $0.contains("READY=1") }
        #expect(refused.contains("STATUS=Reload failed (not valid JSON"))
        try daemon.connect().expect("*** reloaded")  // the old configuration still serves
    }

    @Test("WATCHDOG=1 at about half of WATCHDOG_USEC, from the event loops")
    func watchdog() throws {
        let notify = try NotifySocket()
        let daemon = try Daemon(environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"])
        try notify.expect("READY=1") { $0.contains("READY=1") }
        let pings = notify.collect(for: 2).filter { $0 == "WATCHDOG=1" }.count
        withExtendedLifetime(daemon) {}
        // A ping every 200 ms: about 10 in 2 s. The bounds allow a loaded machine.
        #expect(pings >= 5 && pings <= 14, "\(pings) pings in 2 s")
    }

    @Test("WATCHDOG_PID naming chatd enables the pings; naming another process disables them")
    func watchdogPID() throws {
        let notify = try NotifySocket()
        // The shell sets WATCHDOG_PID to its own pid, which chatd inherits through exec.
        let daemon = try Daemon(
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "400000"],
            launcher: ["/bin/sh", "-c", #"WATCHDOG_PID=$$ exec "$@""#, "sh"])
        try notify.expect("READY=1") { $0.contains("READY=1") }
        try notify.expect("a watchdog ping") { $0 == "WATCHDOG=1" }
        withExtendedLifetime(daemon) {}

        let other = try NotifySocket()
        let elsewhere = try Daemon(environment: ["NOTIFY_SOCKET": other.path, "WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"])
        try other.expect("READY=1") { $0.contains("READY=1") }
        #expect(!other.collect(for: 1).contains("WATCHDOG=1"))
        withExtendedLifetime(elsewhere) {}
    }

    @Test("log lines carry <N> priorities when stderr is the journal, timestamps otherwise")
    func journalPriorities() throws {
        let journal = try Daemon(journal: true)
        let lines = journal.output.split(separator: "\n").filter { !$0.isEmpty }
        #expect(lines.contains { $0.hasPrefix("<5>notice: ") && $0.contains("listening for chat clients") })
        #expect(lines.contains { $0.hasPrefix("<6>info: ") })
        #expect(lines.allSatisfy { $0.hasPrefix("<") }, "\(lines)")
        let plain = try Daemon()
        let first = plain.output.split(separator: "\n").first ?? ""
        #expect(first.range(of: #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ info: "#, options: .regularExpression) != nil, "\(first)")
    }

    @Test("with systemd-socket-activate, chatd serves on the inherited chat, admin and web sockets and binds none of its own")
    func socketActivation() throws {
        let port = try Self.freePort()
        let webPort = try Self.freePort()
        let directory = "/tmp/chatd-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let adminPath = directory + "/activated.sock"
        var first: Client?
        let daemon = try Daemon(
            extraArguments: ["--listen", "127.0.0.1:1", "--web-listen", "127.0.0.1:1"],  // would fail if chatd tried to bind them
            directory: directory,
            launcher: [
                "/usr/bin/systemd-socket-activate", "-l", "127.0.0.1:\(port)", "-l", adminPath, "-l", "127.0.0.1:\(webPort)",
                "--fdname=chat:admin:web",
            ],
            trigger: { waitForLog in
                // systemd-socket-activate announces each socket, then starts chatd on the first connection.
                try waitForLog("Listening on \(adminPath)")
                first = try Client(port: port)
            })
        try daemon.waitForLog("using 1 chat socket(s) passed by systemd")
        try daemon.waitForLog("admin socket listening on \(adminPath)")
        #expect(daemon.port == port)
        let early = try #require(first)
        try early.expect("*** Please choose a nickname:")  // the connection that woke it is served
        try early.register("alice", prompted: true)
        let who = try daemon.chatctl(["who"], socket: adminPath)
        #expect(who.status == 0)
        #expect(who.out.contains("alice"))
        #expect(!FileManager.default.fileExists(atPath: daemon.adminSocket))  // chatd bound no socket of its own
        #expect(try daemon.webPort() == webPort)
        let page = try Client(port: webPort)
        try page.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(try page.readLine() == "HTTP/1.1 200 OK")
        #expect(try daemon.stop() == 0)
    }

    /// A port that was free a moment ago.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard ok else { throw TestFailure("cannot find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
