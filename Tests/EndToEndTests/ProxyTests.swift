import ChatCore
import Foundation
import Glibc
import Testing

/// Behind a proxy: the PROXY protocol from `proxy.trusted` peers (HAProxy, Debian's package,
/// sending version 2; a hand-made version 1 header), and its refusal from anyone else.
@Suite("PROXY protocol")
struct ProxyTests {
    /// chatd trusting 127.0.0.1 as its proxy. Test clients that are not the proxy connect
    /// from other loopback addresses.
    func daemon() throws -> Daemon {
        try Daemon(config: #"{"proxy": {"trusted": ["127.0.0.1/32"]}}"#, extraArguments: ["--no-web"])
    }

    func refusedCount(_ daemon: Daemon) throws -> Int? {
        let stats = try JSONValue.parse(try daemon.chatctl(["stats", "--json"]).out).objectValue
        return stats?["refused"]?.objectValue?.int("proxy_header")
    }

    @Test("behind HAProxy (PROXY v2), chatctl who shows each client's own address, and a ban of it holds through the proxy")
    func haproxy() throws {
        let daemon = try daemon()
        let front = try freeLoopbackPort()
        let directory = daemon.directory
        let config = """
            global
                maxconn 200
            defaults
                mode tcp
                timeout connect 5s
                timeout client 60s
                timeout server 60s
            frontend chat
                bind 127.0.0.1:\(front)
                default_backend chatd
            backend chatd
                server chatd 127.0.0.1:\(daemon.port) send-proxy-v2
            """
        try (config + "\n").write(toFile: directory + "/haproxy.cfg", atomically: true, encoding: .utf8)
        let log = LogBuffer()
        let haproxy = try ChildProcess(
            ["/usr/sbin/haproxy", "-db", "-f", directory + "/haproxy.cfg"], environment: ProcessInfo.processInfo.environment, output: log)
        defer { kill(haproxy.pid, SIGKILL) }
        // Ready when it accepts.
        let deadline = Date().addingTimeInterval(10)
        while (try? Client(port: front, source: "127.0.0.9")) == nil {
            guard Date() < deadline else { throw TestFailure("haproxy did not start: \(log.text)") }
            Thread.sleep(forTimeInterval: 0.05)
        }

        let alice = try Client(port: front, source: "127.0.0.5")
        try alice.register("alice")
        let bob = try Client(port: front, source: "127.0.0.6")
        try bob.register("bob")
        let who = try daemon.chatctl(["who"])
        #expect(who.out.contains("127.0.0.5") && who.out.contains("127.0.0.6"), "\(who.out)")
        #expect(!who.out.contains("127.0.0.1:"), "the proxy's address shown for a client: \(who.out)")

        #expect(try daemon.chatctl(["ban", "127.0.0.5", "--reason", "spam"]).status == 0)
        try bob.expect(containing: "alice has quit")
        let again = try Client(port: front, source: "127.0.0.5")
        let refused = try again.readUntilClosed()
        #expect(refused.contains { $0.contains("banned") }, "\(refused)")
        let carol = try Client(port: front, source: "127.0.0.7")
        try carol.register("carol")  // another address through the same proxy is not banned
    }

    @Test("a version 1 header from the trusted proxy names the client; none from it, or one from anyone else, is refused")
    func headers() throws {
        let daemon = try daemon()
        let proxied = try Client(port: daemon.port, source: "127.0.0.1")
        try proxied.send("PROXY TCP4 203.0.113.9 127.0.0.1 5555 7777\r\n")
        try proxied.register("dora")
        let who = try daemon.chatctl(["who"])
        #expect(who.out.contains("203.0.113.9:5555"), "\(who.out)")
        // A health check (v1 UNKNOWN) is the proxy's own connection.
        let check = try Client(port: daemon.port, source: "127.0.0.1")
        try check.send("PROXY UNKNOWN\r\n")
        try check.expect("*** Please choose a nickname:")

        // The trusted proxy's address without a header: refused.
        let bare = try Client(port: daemon.port, source: "127.0.0.1")
        try bare.send("eve\r\n")
        _ = try bare.readUntilClosed()
        // Anyone else sending a header: refused with a reason.
        let forged = try Client(port: daemon.port, source: "127.0.0.2")
        try forged.send("PROXY TCP4 198.51.100.1 127.0.0.1 1 2\r\n")
        let lines = try forged.readUntilClosed()
        #expect(lines.contains { $0.contains("A PROXY header is accepted only from a trusted proxy") }, "\(lines)")
        // Both counted (the log says so only once per reason every 10 s, so ask the counters).
        let deadline = Date().addingTimeInterval(5)
        while try refusedCount(daemon) != 2, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        #expect(try refusedCount(daemon) == 2)
        // The untrusted client is not let in as anyone.
        #expect(!(try daemon.chatctl(["who"]).out.contains("198.51.100.1")))
    }
}
