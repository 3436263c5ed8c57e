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

    /// HAProxy as an HTTP proxy in front of the web listener (`option forwardfor`), listening on
    /// 127.0.0.1:`front`; chatd trusts 127.0.0.1, where HAProxy connects from.
    func httpProxy(_ daemon: Daemon, front: Int) throws -> ChildProcess {
        let config = """
            global
                maxconn 200
            defaults
                mode http
                timeout connect 5s
                timeout client 60s
                timeout server 60s
                timeout tunnel 60s
            frontend web
                bind 127.0.0.1:\(front)
                option forwardfor
                default_backend chatd
            backend chatd
                server chatd 127.0.0.1:\(try daemon.webPort()) source 127.0.0.1
            """
        try (config + "\n").write(toFile: daemon.directory + "/haproxy-http.cfg", atomically: true, encoding: .utf8)
        let log = LogBuffer()
        let haproxy = try ChildProcess(
            ["/usr/sbin/haproxy", "-db", "-f", daemon.directory + "/haproxy-http.cfg"], environment: ProcessInfo.processInfo.environment,
            output: log)
        let deadline = Date().addingTimeInterval(10)
        while (try? Client(port: front, source: "127.0.0.9")) == nil {
            guard Date() < deadline else {
                kill(haproxy.pid, SIGKILL)
                throw TestFailure("haproxy did not start: \(log.text)")
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        return haproxy
    }

    @Test(
        "behind HAProxy as an HTTP proxy (X-Forwarded-For), a web client chats under its own address, a ban of it holds, and what a client forges is not believed"
    )
    func forwardedFor() throws {
        let daemon = try Daemon(
            config: #"{"proxy": {"trusted": ["127.0.0.1/32"]}, "web": {"listen": ["127.0.0.1:0"], "allowedHosts": ["chat.example"]}}"#)
        let front = try freeLoopbackPort()
        let haproxy = try httpProxy(daemon, front: front)
        defer { kill(haproxy.pid, SIGKILL) }

        // The page through the proxy.
        let page = try Client(port: front, source: "127.0.0.5")
        try page.send("GET / HTTP/1.1\r\nHost: chat.example\r\nConnection: close\r\n\r\n")
        let response = try page.readUntilClosed()
        #expect(response.first == "HTTP/1.1 200 OK", "\(response.prefix(3))")

        // A WebSocket through it: chatd sees the client's address, not the proxy's. The header
        // the client forged (left of what HAProxy appends) is not believed.
        let web = try WebSocketClient(port: front, source: "127.0.0.5", headers: ["X-Forwarded-For: 198.51.100.77"])
        #expect(web.upgraded, "\(web.status)")
        try web.register("webby")
        let who = try daemon.chatctl(["who"])
        #expect(who.out.contains("127.0.0.5"), "\(who.out)")
        #expect(!who.out.contains("198.51.100.77") && !who.out.contains("127.0.0.1:"), "\(who.out)")
        let stats = try JSONValue.parse(try daemon.chatctl(["stats", "--json"]).out).objectValue
        #expect(stats?["listeners"]?.objectValue?.int("web") == 1)

        // A ban of the client's address: the WebSocket is closed, and the page and a new
        // WebSocket are refused through the proxy, while another client still gets in.
        #expect(try daemon.chatctl(["ban", "127.0.0.5", "--reason", "spam"]).status == 0)
        #expect(try web.expectClose().code == 1008)
        let banned = try WebSocketClient(port: front, source: "127.0.0.5")
        #expect(banned.status.hasPrefix("HTTP/1.1 403"), "\(banned.status)")
        let bannedPage = try Client(port: front, source: "127.0.0.5")
        try bannedPage.send("GET / HTTP/1.1\r\nHost: chat.example\r\nConnection: close\r\n\r\n")
        #expect(try bannedPage.readUntilClosed().first?.hasPrefix("HTTP/1.1 403") == true)
        let other = try WebSocketClient(port: front, source: "127.0.0.6")
        #expect(other.upgraded, "\(other.status)")
        try other.register("other")
    }

    @Test("on the web listener, the trusted proxy must name the client (Forwarded or X-Forwarded-For); anyone else's header is ignored")
    func forwardedHeaders() throws {
        let daemon = try Daemon(config: #"{"proxy": {"trusted": ["127.0.0.1/32"]}, "web": {"listen": ["127.0.0.1:0"]}}"#)
        let port = try daemon.webPort()
        // From the proxy, with RFC 7239's header (a quoted IPv6 address with a port).
        let v6 = try WebSocketClient(
            port: port, host: "127.0.0.1:\(port)", source: "127.0.0.1", headers: [#"Forwarded: for="[2001:db8::17]:4711";proto=http"#])
        #expect(v6.upgraded, "\(v6.status)")
        try v6.register("sixer")
        #expect(try daemon.chatctl(["who"]).out.contains("2001:db8::17"))
        // From the proxy, naming nobody: 400, counted as a proxy refusal.
        let anonymous = try WebSocketClient(port: port, source: "127.0.0.1")
        #expect(anonymous.status.hasPrefix("HTTP/1.1 400"), "\(anonymous.status)")
        let unknown = try WebSocketClient(port: port, source: "127.0.0.1", headers: ["Forwarded: for=unknown"])
        #expect(unknown.status.hasPrefix("HTTP/1.1 400"), "\(unknown.status)")
        // A client that is not the proxy: its header means nothing.
        let forger = try WebSocketClient(port: port, source: "127.0.0.3", headers: ["X-Forwarded-For: 203.0.113.50"])
        #expect(forger.upgraded, "\(forger.status)")
        try forger.register("forger")
        let who = try daemon.chatctl(["who"]).out
        #expect(who.contains("127.0.0.3") && !who.contains("203.0.113.50"), "\(who)")
        #expect(try refusedCount(daemon) == 2)
    }
}
