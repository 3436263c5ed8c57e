import ChatCore
import Foundation
import Glibc
import Testing

/// One HTTP/1.1 request on a fresh connection; returns the status line, headers and body.
private func http(_ port: Int, _ request: String) throws -> (status: String, headers: [String: String], body: String) {
    let client = try Client(port: port)
    try client.send(request)
    guard let status = try client.readLine() else { throw TestFailure("no response") }
    var headers: [String: String] = [:]
    while let line = try client.readLine(), !line.isEmpty {
        guard let colon = line.firstIndex(of: ":") else { continue }
        headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    let length = Int(headers["content-length"] ?? "0") ?? 0
    let body = request.hasPrefix("HEAD") ? [] : (try client.readBytes(length) ?? [])
    return (status, headers, String(decoding: body, as: UTF8.self))
}

@Suite("the web client's HTTP and WebSocket")
struct WebTests {
    @Test("GET / serves the page with a strict CSP; its script and style; proper errors for the rest")
    func pages() throws {
        let daemon = try Daemon()
        let port = try daemon.webPort()
        let page = try http(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        #expect(page.status == "HTTP/1.1 200 OK")
        #expect(page.headers["content-type"] == "text/html; charset=utf-8")
        let csp = try #require(page.headers["content-security-policy"])
        #expect(csp.contains("default-src 'none'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"))
        #expect(page.headers["x-content-type-options"] == "nosniff")
        #expect(page.body.contains("<script src=\"/app.js\""))
        for (path, type) in [("/app.js", "text/javascript; charset=utf-8"), ("/app.css", "text/css; charset=utf-8")] {
            let asset = try http(port, "GET \(path) HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(asset.status == "HTTP/1.1 200 OK" && asset.headers["content-type"] == type, "\(path)")
            #expect(asset.body.count > 100, "\(path)")
        }
        let head = try http(port, "HEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(head.status == "HTTP/1.1 200 OK" && head.headers["content-length"] == page.headers["content-length"])
        #expect(try http(port, "GET /nope HTTP/1.1\r\nHost: localhost\r\n\r\n").status == "HTTP/1.1 404 Not Found")
        let post = try http(port, "POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\nhi")
        #expect(post.status == "HTTP/1.1 405 Method Not Allowed" && post.headers["allow"] == "GET, HEAD")
        let plain = try http(port, "GET /ws HTTP/1.1\r\nHost: localhost\r\n\r\n")
        #expect(plain.status == "HTTP/1.1 426 Upgrade Required" && plain.headers["upgrade"] == "websocket")
        // A request that cannot be parsed gets its 400 and the connection closes at once (the
        // request deadline is 30 s), whatever the client sends after it.
        let garbage = try Client(port: port)
        try garbage.send("NOT HTTP AT ALL\r\n\r\n")
        #expect(try garbage.readLine()?.hasPrefix("HTTP/1.1 400") == true)
        try? garbage.send("more garbage\r\n")
        #expect(try garbage.readUntilClosed(timeout: 5).contains("Connection: close"))
    }

    @Test("web connections count against the connection limits, with chat's, and a trickled request is cut at its deadline")
    func webLimits() throws {
        let daemon = try Daemon(
            config:
                #"{"web": {"listen": ["127.0.0.1:0"], "requestTimeoutSeconds": 2}, "limits": {"maxClientsPerAddress": 3, "maxClients": 5}}"#
        )
        let port = try daemon.webPort()
        // Three connections from one address, each answered once (so admitted) and now half-way
        // through a second request, fill the address's share, for the chat port too.
        func heldOpen(from source: String? = nil) throws -> Client {
            let client = try Client(port: port, source: source)
            try client.send("HEAD / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            try client.expect("HTTP/1.1 200 OK")
            try client.expect("")
            try client.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            return client
        }
        let held = try (0..<3).map { _ in try heldOpen() }
        let refused = try Client(port: port).readUntilClosed()
        #expect(refused.first == "HTTP/1.1 503 Service Unavailable")
        #expect(refused.last == "Too many connections from your address (at most 3).")
        #expect(try daemon.connect().readUntilClosed() == ["*** Too many connections from your address (at most 3)."])
        // Two more from another address reach the total of 5; a sixth anywhere is refused.
        let others = try (0..<2).map { _ in try heldOpen(from: "127.0.0.2") }
        #expect(try Client(port: port, source: "127.0.0.3").readUntilClosed().last?.hasPrefix("The server is full (5 connections)") == true)
        #expect(try daemon.connect(from: "127.0.0.3").readUntilClosed().last?.hasPrefix("*** The server is full") == true)

        // A header byte now and then does not keep a request alive past its deadline.
        let start = Date()
        try held[0].send("X")
        #expect(try held[0].readUntilClosed(timeout: 10) == [])
        let lasted = Date().timeIntervalSince(start)
        #expect(lasted < 5, "closed after \(lasted) s")
        for client in held.dropFirst() + others { #expect(try client.readUntilClosed(timeout: 10) == []) }
        // Their places are free again.
        #expect(try http(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").status == "HTTP/1.1 200 OK")
        try daemon.registered("chatter").line("/quit")
        let stats = try daemon.chatctl(["--json", "stats"])
        #expect(stats.out.contains(#""too_many_from_address":2"#) && stats.out.contains(#""server_full":2"#), "\(stats.out)")
    }

    @Test("running out of file descriptors through the web port pauses accepting instead of spinning a loop")
    func outOfDescriptors() throws {
        let daemon = try Daemon(
            config:
                #"{"web": {"listen": ["127.0.0.1:0"]}, "limits": {"maxClients": 100000, "maxClientsPerAddress": 100000, "connectBurstPerAddress": 100000, "connectsPerAddressPerMinute": 100000}}"#,
            launcher: ["/usr/bin/prlimit", "--nofile=100:100", "--"])
        let port = try daemon.webPort()
        let flood = try (0..<150).map { _ in try Client(port: port) }
        try daemon.waitForLog("cannot accept connections: Too many open files")
        // With accepting paused, the daemon is all but idle: a spinning loop would use a core.
        func cpuTicks() throws -> Int {
            let stat = try String(contentsOfFile: "/proc/\(daemon.pid)/stat", encoding: .utf8)
            let fields = stat[stat.range(of: ")")!.upperBound...].split(separator: " ")
            return Int(fields[11])! + Int(fields[12])!  // utime, stime
        }
        let before = try cpuTicks()
        Thread.sleep(forTimeInterval: 2)  // a measuring window, not a wait for an event
        let used = try cpuTicks() - before
        #expect(used < 60, "chatd used \(used) ticks of CPU in 2 s")
        // Once descriptors are free again, chat clients are served.
        for client in flood { Glibc.shutdown(client.fd, Int32(SHUT_RDWR)) }
        let chatter = try daemon.connect()
        try chatter.expect("*** Please choose a nickname:", timeout: 20)
    }

    @Test("a WebSocket client and a TCP client meet in the same room")
    func meetsTCP() throws {
        let daemon = try Daemon()
        let tcp = try daemon.connect()
        try tcp.register("telnetter")
        let web = try WebSocketClient(port: try daemon.webPort())
        #expect(web.upgraded, "\(web.status)")
        let hello = try web.expectJSON(type: "hello")
        #expect(hello["limits"]?["maxLineBytes"] == .integer(2048))
        try web.send(text: #"{"type":"hello","nick":"browser","id":"h"}"#)
        try web.expectJSON(type: "welcome") { $0.string("re") == "h" }
        try tcp.expect("*** browser has joined #lobby")
        try tcp.line("hello browser")
        try web.expectJSON(type: "message") { $0.string("from") == "telnetter" && $0.string("text") == "hello browser" }
        try web.send(text: #"{"type":"message","text":"hello telnet","id":2}"#)
        try tcp.expect("<browser> hello telnet")
        try web.send(text: #"{"type":"quit","reason":"tab closed"}"#)
        try web.expectJSON(type: "bye")
        #expect(try web.expectClose() == (1000, "Quit: tab closed"))
        try tcp.expect("*** browser has quit (Quit: tab closed)")
    }

    @Test("the Origin is checked: the page's own and listed origins may connect, others get 403")
    func origins() throws {
        let daemon = try Daemon(config: #"{"web": {"listen": ["127.0.0.1:0"], "allowedOrigins": ["https://chat.example.org"]}}"#)
        let port = try daemon.webPort()
        #expect(try WebSocketClient(port: port, origin: "http://127.0.0.1:\(port)").upgraded)
        #expect(try WebSocketClient(port: port, origin: "https://chat.example.org").upgraded)
        #expect(try WebSocketClient(port: port).upgraded, "no Origin: not a browser")
        for origin in ["http://evil.example", "http://127.0.0.1:1", "null", "https://chat.example.org.evil.example"] {
            let refused = try WebSocketClient(port: port, origin: origin)
            #expect(refused.status == "HTTP/1.1 403 Forbidden", "\(origin)")
        }
        #expect(try WebSocketClient(port: port, path: "/other").status.hasPrefix("HTTP/1.1 404"))
    }

    @Test("a Host that is not an address, localhost or a configured name is refused, upgrade or not (DNS rebinding)")
    func hostNames() throws {
        let daemon = try Daemon(config: #"{"web": {"listen": ["127.0.0.1:0"], "allowedHosts": ["chat.example.org"]}}"#)
        let port = try daemon.webPort()
        // A page on the attacker's name, re-resolved to 127.0.0.1: its Origin matches its Host.
        let rebound = try WebSocketClient(port: port, origin: "http://rebind.example:\(port)", host: "rebind.example:\(port)")
        #expect(rebound.status == "HTTP/1.1 421 Misdirected Request")
        let page = try http(port, "GET / HTTP/1.1\r\nHost: rebind.example\r\n\r\n")
        #expect(page.status == "HTTP/1.1 421 Misdirected Request")
        #expect(page.body == "This server is not reached by the name rebind.example (web.allowedHosts).\n")
        for host in ["127.0.0.1:\(port)", "[::1]:\(port)", "localhost:\(port)", "chat.example.org", "CHAT.example.org.:\(port)"] {
            #expect(try http(port, "GET / HTTP/1.1\r\nHost: \(host)\r\n\r\n").status == "HTTP/1.1 200 OK", "\(host)")
        }
        #expect(try WebSocketClient(port: port, origin: "http://chat.example.org", host: "chat.example.org").upgraded)
    }

    @Test("bad frames are closed with the right code: unmasked, binary, bad UTF-8, too big; fragments are joined")
    func badFrames() throws {
        let daemon = try Daemon(config: #"{"web": {"listen": ["127.0.0.1:0"]}, "limits": {"maxLineBytes": 256}}"#)
        let port = try daemon.webPort()
        let watcher = try daemon.connect()
        try watcher.register("watcher")

        let fragmented = try WebSocketClient(port: port)
        try fragmented.register("frag")
        try fragmented.send(.text, Array(#"{"type":"message","#.utf8), fin: false)
        try fragmented.send(.ping, Array("are you there".utf8))
        try fragmented.send(.continuation, Array(#""text":"in pieces"}"#.utf8))
        try watcher.expect("<frag> in pieces")
        var pong: WebSocketClient.Frame?
        while pong == nil, let frame = try fragmented.readFrame() {
            if frame.opcode == WebSocketClient.Opcode.pong.rawValue { pong = frame }
        }
        #expect(pong?.text == "are you there")

        let cases: [(String, (WebSocketClient) throws -> Void, Int)] = [
            ("unmasked", { try $0.send(.text, Array("{}".utf8), masked: false) }, 1002),
            ("binary", { try $0.send(.binary, [1, 2, 3]) }, 1003),
            ("bad UTF-8", { try $0.send(.text, [0x7B, 0xFF, 0xFE, 0x7D]) }, 1007),
            ("one huge frame", { try $0.send(.text, Array(repeating: 0x61, count: 10_000)) }, 1009),
            (
                "fragments adding up to too much",
                { client in
                    try client.send(.text, Array(repeating: 0x61, count: 200), fin: false)
                    try client.send(.continuation, Array(repeating: 0x61, count: 200), fin: false)
                }, 1009
            ),
        ]
        for (name, act, code) in cases {
            let client = try WebSocketClient(port: port)
            try client.expectJSON(type: "hello")
            try act(client)
            let close = try client.expectClose()
            #expect(close.code == code, "\(name): \(close)")
        }
        // A message that is not JSON is an error event, as on TCP; the connection goes on.
        let sloppy = try WebSocketClient(port: port)
        try sloppy.register("sloppy")
        try sloppy.send(text: "hello?")
        try sloppy.expectJSON(type: "error") { $0.string("code") == "bad_request" }
        try sloppy.send(text: #"{"type":"ping","id":"p"}"#)
        try sloppy.expectJSON(type: "pong")
    }

    @Test("the flood limits apply to WebSocket clients too")
    func flood() throws {
        let daemon = try Daemon(
            config: #"{"web": {"listen": ["127.0.0.1:0"]}, "limits": {"floodBurst": 2, "floodRate": 0.5, "floodQueueLines": 2}}"#)
        let watcher = try daemon.connect()
        try watcher.register("watcher")
        let flooder = try WebSocketClient(port: try daemon.webPort())
        try flooder.register("flooder")
        for n in 0..<10 { try flooder.send(text: #"{"type":"message","text":"spam \#(n)"}"#) }
        try flooder.expectJSON(type: "bye") { $0.string("reason") == "Excess flood" }
        #expect(try flooder.expectClose() == (1008, "Excess flood"))
        try watcher.expect("*** flooder has quit (Excess flood)")
    }

    @Test("a client that stops answering pings is closed with 1001 and the room is told")
    func pingTimeout() throws {
        let daemon = try Daemon(config: #"{"web": {"listen": ["127.0.0.1:0"], "pingIntervalSeconds": 1, "pingTimeoutSeconds": 1}}"#)
        let watcher = try daemon.connect()
        try watcher.register("watcher")
        let silent = try WebSocketClient(port: try daemon.webPort())
        // Register without answering anything the server sends afterwards.
        _ = try silent.readFrame()
        try silent.send(text: #"{"type":"hello","nick":"silent"}"#)
        try watcher.expect("*** silent has joined #lobby")
        var sawPing = false
        var close: (Int, String)?
        while close == nil, let frame = try silent.readFrame(timeout: 10) {
            if frame.opcode == WebSocketClient.Opcode.ping.rawValue { sawPing = true }
            if frame.opcode == WebSocketClient.Opcode.close.rawValue { close = WebSocketClient.closeCode(frame) }
        }
        #expect(sawPing)
        #expect(close.map { $0 == (1001, "Ping timeout") } == true)
        try watcher.expect("*** silent has quit (Ping timeout)")
    }

    @Test("at shutdown WebSocket clients get a bye and close code 1001")
    func shutdown() throws {
        let daemon = try Daemon()
        let web = try WebSocketClient(port: try daemon.webPort())
        try web.register("leaving")
        kill(daemon.pid, SIGTERM)
        try web.expectJSON(type: "bye") { $0.string("reason") == "Server shutting down" }
        #expect(try web.expectClose() == (1001, "Server shutting down"))
        #expect(try daemon.stop() == 0)
    }

    @Test("--no-web serves no page; web keys are validated")
    func configuration() throws {
        let daemon = try Daemon(extraArguments: ["--no-web"])
        #expect(!daemon.output.contains("serving the web client"))
        func check(_ config: String) throws -> (status: Int32, output: String) {
            let path = NSTemporaryDirectory() + "chatd-web-\(UUID().uuidString.prefix(6)).json"
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            defer { try? FileManager.default.removeItem(atPath: path) }
            return try Daemon.runToCompletion(["--check-config", "--config", path])
        }
        let bad = try check(
            #"{"web": {"allowedOrigins": ["https://evil.example/path"], "allowedHosts": ["https://x.org"], "pingTimeoutSeconds": 0, "enable": true}}"#
        )
        #expect(bad.status == 78)
        #expect(bad.output.contains("web.allowedOrigins[0]: must be an origin"))
        #expect(bad.output.contains("web.allowedHosts[0]: must be a host name (chat.example.org): no scheme, port or path"))
        #expect(bad.output.contains("web.pingTimeoutSeconds: must be from 1 to 86400, got 0"))
        #expect(bad.output.contains(#"web.enable: unknown key (did you mean "enabled"?)"#))
        let shared = try check(#"{"listen": ["127.0.0.1:7000"], "web": {"listen": ["127.0.0.1:7000"]}}"#)
        #expect(shared.output.contains("web.listen: 127.0.0.1:7000 is also a chat address"))
    }
}
