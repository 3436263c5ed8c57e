import ChatCore
import Foundation
import Testing

/// chat-bench against the built chatd: a tiny run, checked for consistency, not for speed
/// (docs/BENCHMARKS.md has the real runs).
@Suite("chat-bench smoke")
struct BenchTests {
    static let benchConfig = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("config/bench.json").path

    private func bench(_ daemon: Daemon, _ arguments: [String]) throws -> JSONObject {
        let result = try Daemon.run(
            [Daemon.binDirectory.appendingPathComponent("chat-bench").path, "--port", "\(daemon.port)", "--json"] + arguments)
        #expect(result.status == 0, "\(result.err)")
        return try #require(try JSONValue.parse(result.out.trimmingCharacters(in: .whitespacesAndNewlines)).objectValue)
    }

    @Test("as fast as the window allows: every delivery arrives, each measured")
    func maxRate() throws {
        let daemon = try Daemon(config: try String(contentsOfFile: Self.benchConfig, encoding: .utf8))
        let result = try bench(
            daemon, ["--clients", "6", "--senders", "2", "--duration", "1", "--warmup", "0.2", "--pid", "\(daemon.pid)"])
        #expect(result["lossPercent"] == .integer(0))
        guard case .integer(let messages)? = result["messagesPerSecond"], case .integer(let deliveries)? = result["deliveriesPerSecond"]
        else {
            Issue.record("no rates in \(result)")
            return
        }
        #expect(messages > 0)
        #expect(deliveries == messages * 5)  // every message reaches the 5 other clients
        #expect(result["latencyMs"]?["p99"] != nil)
        #expect(result["serverCPUPercent"] != nil)  // over the measured second
    }

    @Test("at a fixed rate, and idle with memory per connection")
    func fixedRateAndIdle() throws {
        let daemon = try Daemon(config: try String(contentsOfFile: Self.benchConfig, encoding: .utf8))
        let fixed = try bench(daemon, ["--clients", "4", "--senders", "2", "--rate", "10", "--duration", "1", "--warmup", "0.2"])
        #expect(fixed["lossPercent"] == .integer(0))
        // 2 senders × 10/s, each message to 3 receivers; a late timer may shift one send.
        guard case .integer(let messages)? = fixed["messagesPerSecond"], case .integer(let deliveries)? = fixed["deliveriesPerSecond"]
        else {
            Issue.record("no rates in \(fixed)")
            return
        }
        #expect((16...24).contains(messages))
        #expect(deliveries == messages * 3)
        let idle = try bench(daemon, ["--clients", "20", "--idle", "--pid", "\(daemon.pid)", "--hold", "0.1"])
        #expect(idle["rssPerConnectionKiB"] != nil)
        let misuse = try Daemon.run(
            [Daemon.binDirectory.appendingPathComponent("chat-bench").path, "--port", "\(daemon.port)", "--hold", "1"])
        #expect(misuse.status == 64)
        #expect(misuse.err.contains("--hold is for --idle runs"))
    }
}
