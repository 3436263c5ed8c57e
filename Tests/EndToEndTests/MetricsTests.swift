import ChatCore
import Foundation
import Testing

/// /metrics and /healthz on `metrics.listen`, read with curl and checked by promtool
/// (Debian's prometheus package), and the alert rules and dashboard in packaging/.
@Suite("metrics")
struct MetricsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    func get(_ url: String) throws -> (status: Int, body: String) {
        let run = try Daemon.run(["/usr/bin/curl", "-sS", "-w", "\n%{http_code}", url])
        #expect(run.status == 0, "\(run.err)")
        var lines = run.out.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.popLast() ?? "") ?? 0
        return (status, lines.joined(separator: "\n"))
    }

    /// The value of an unlabelled series in a scrape.
    func value(_ name: String, in scrape: String) -> Double? {
        scrape.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }

    @Test("a scrape taken under load passes promtool; the counters count; /healthz says 200, then 503 while draining")
    func scrape() throws {
        let port = try freeLoopbackPort()
        let daemon = try Daemon(extraArguments: ["--metrics-listen", "127.0.0.1:\(port)"])
        try daemon.waitForLog("serving metrics on http://127.0.0.1:\(port)/metrics")
        let clients = try (0..<3).map { try daemon.registered("user\($0)") }
        let web = try WebSocketClient(port: try daemon.webPort())
        try web.register("browser")
        // Two that leave: one says goodbye, one is kicked.
        let leaving = try daemon.registered("leaving")
        try leaving.line("/quit bye")
        _ = try leaving.readUntilClosed()
        let kicked = try daemon.registered("kicked")
        #expect(try daemon.chatctl(["kick", "kicked"]).status == 0)
        _ = try kicked.readUntilClosed()
        for n in 0..<50 { try clients[n % 3].line("line \(n)") }
        try clients[0].line("/ping done")
        try clients[0].expect("*** pong done")
        // Scraped while a client is still talking.
        try clients[1].line("one more")
        let metrics = try get("http://127.0.0.1:\(port)/metrics")
        #expect(metrics.status == 200)
        let file = daemon.directory + "/scrape.txt"
        try metrics.body.write(toFile: file, atomically: true, encoding: .utf8)
        let promtool = try Daemon.run(["/bin/sh", "-c", "promtool check metrics < \(file)"])
        #expect(promtool.status == 0, "promtool: \(promtool.out) \(promtool.err)")
        #expect((value("chatd_messages_total", in: metrics.body) ?? 0) >= 50, "\(metrics.body)")
        #expect(value("chatd_clients", in: metrics.body) == 4)
        #expect(value("chatd_connections{transport=\"chat\",tls=\"false\"}", in: metrics.body) == 3, "\(metrics.body)")
        #expect(value("chatd_connections{transport=\"web\",tls=\"false\"}", in: metrics.body) == 1)
        #expect(value("chatd_connections{transport=\"chat\",tls=\"true\"}", in: metrics.body) == 0)
        #expect(value("chatd_registrations_total", in: metrics.body) == 6)
        #expect(value("chatd_disconnects_total{reason=\"quit\"}", in: metrics.body) == 1)
        #expect(value("chatd_disconnects_total{reason=\"kicked\"}", in: metrics.body) == 1)
        #expect(value("chatd_disconnects_total{reason=\"flood\"}", in: metrics.body) == 0)
        let drains = (0..<3).compactMap { value("chatd_drain_latency_seconds_count{loop=\"\($0)\"}", in: metrics.body) }
        #expect(drains.count == 3 && drains.reduce(0, +) > 0, "every loop's mailbox is timed")
        #expect(metrics.body.contains("chatd_event_loop_lag_seconds{loop=\"2\"}"), "three loops in tests")
        #expect((value("process_open_fds", in: metrics.body) ?? 0) > 3)
        #expect(metrics.body.contains("chatd_connections_refused_total{reason=\"banned\"} 0"))

        #expect(try get("http://127.0.0.1:\(port)/healthz") == (200, "ok\n"))
        #expect(try daemon.chatctl(["drain", "--message", "back soon"]).status == 0)
        let draining = try get("http://127.0.0.1:\(port)/healthz")
        #expect(draining.status == 503 && draining.body.hasPrefix("draining: back soon"), "\(draining)")
        #expect(try daemon.chatctl(["undrain"]).status == 0)
        #expect(try get("http://127.0.0.1:\(port)/healthz").status == 200)
        #expect(try get("http://127.0.0.1:\(port)/elsewhere").status == 404)

        // Every series the dashboard draws is one chatd exports.
        let dashboard = try String(contentsOf: Self.root.appendingPathComponent("packaging/chatd-grafana.json"), encoding: .utf8)
        let names = Set(
            dashboard.matches(of: /(chatd|process)_[a-z_]+/).map { String($0.output.0) }.map {
                $0.hasSuffix("_bucket") ? String($0.dropLast(7)) : $0
            })
        #expect(!names.isEmpty)
        for name in names { #expect(metrics.body.contains("# TYPE \(name) "), "the dashboard draws \(name), which chatd does not export") }
    }

    @Test("the alert rules in packaging/ pass promtool check rules")
    func alertRules() throws {
        let rules = Self.root.appendingPathComponent("packaging/chatd-alerts.yml").path
        let check = try Daemon.run(["/usr/bin/promtool", "check", "rules", rules])
        #expect(check.status == 0 && check.out.contains("SUCCESS"), "\(check.out) \(check.err)")
    }
}
