import ChatCore
import Foundation
import Testing

/// The config as an operator meets it: --check-config, and start-up refusals.
@Suite("configuration")
final class ConfigTests {
    /// This test's config files; removed with it.
    private let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("chatd-config-\(UUID().uuidString.prefix(8))")

    init() throws {
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: scratch)
    }

    private func write(_ text: String) throws -> String {
        let path = scratch.appendingPathComponent("\(UUID().uuidString.prefix(8)).json").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("--check-config accepts the example config and exits 0")
    func exampleConfigIsValid() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/chatd.json").path
        let (status, output) = try Daemon.runToCompletion(["--config", example, "--check-config"])
        #expect(status == 0, "\(output)")
        #expect(output.contains("is valid"))
    }

    @Test("the example config names every key, so an operator sees each one and its default")
    func exampleConfigIsComplete() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("config/chatd.json").path
        func paths(_ value: JSONValue, _ prefix: String) -> [String] {
            guard case .object(let object) = value else { return [prefix] }
            return object.members.flatMap { paths($0.value, prefix.isEmpty ? $0.key : prefix + "." + $0.key) }
        }
        let named = Set(paths(try JSONValue.parse(try String(contentsOfFile: example, encoding: .utf8)), ""))
        #expect(Set(Config().flattened.keys).subtracting(named).sorted() == [], "keys the example config leaves out")
    }

    @Test("--check-config reports every problem with its key path and exits 78")
    func badConfig() throws {
        let path = try write(
            #"{"limits": {"maxLineBytes": "big", "maxNickLenght": 10}, "listen": ["localhost"], "logging": {"level": "loud"}}"#)
        let (status, output) = try Daemon.runToCompletion(["--config", path, "--check-config"])
        #expect(status == 78)
        #expect(output.contains("limits.maxLineBytes: expected a whole number, got a string"))
        #expect(output.contains(#"limits.maxNickLenght: unknown key (did you mean "maxNickLength"?)"#))
        #expect(output.contains("listen[0]: expected \"HOST:PORT\""))
        #expect(output.contains("logging.level: must be one of"))
    }

    @Test("broken JSON is refused with its line and column; a missing file is named")
    func unreadableConfigs() throws {
        let path = try write("{\n  \"eventLoops\": 2,\n  oops\n}")
        let (status, output) = try Daemon.runToCompletion(["--config", path, "--check-config"])
        #expect(status == 78)
        #expect(output.contains("line 3, column 3"))
        // A flag is held to its key's rule: 0 (one loop per core but one) is fine, 65 is not.
        #expect(try Daemon.runToCompletion(["--config", try write("{}"), "--event-loops", "0", "--check-config"]).status == 0)
        let loops = try Daemon.runToCompletion(["--config", try write("{}"), "--event-loops", "65", "--check-config"])
        #expect(loops.status == 78)
        #expect(loops.output.contains("--event-loops: must be from 0 to 64"))
        let address = try Daemon.runToCompletion(["--config", try write("{}"), "--listen", "::1:7777", "--check-config"])
        #expect(
            address.output.contains("--listen: write an IPv6 address in brackets, as [::1]:PORT (got '::1:7777')."), "\(address.output)")
        let missing = try Daemon.runToCompletion(["--config", "/nonexistent/chatd.json"])
        #expect(missing.status == 78)
        #expect(missing.output.contains("/nonexistent/chatd.json: no such file"))
    }

    @Test("the daemon refuses to start on a bad config, and says why when it cannot listen")
    func startupFailures() throws {
        let path = try write(#"{"server": {"defaultRoom": "lobby"}}"#)
        let bad = try Daemon.runToCompletion(["--config", path])
        #expect(bad.status == 78)
        #expect(bad.output.contains("server.defaultRoom: must start with '#'"))

        let running = try Daemon()
        let taken = try Daemon.runToCompletion([
            "--config", running.configPath, "--listen", "127.0.0.1:\(running.port)", "--admin-socket", running.directory + "/second.sock",
            "--state-directory", running.stateDirectory,
        ])
        #expect(taken.status == 1)
        #expect(taken.output.contains("cannot listen on 127.0.0.1:\(running.port): Address already in use\n"), "\(taken.output)")
        // A daemon that never got going has no clients to wait for.
        let second = try Daemon.runToCompletion([
            "--config", running.configPath, "--listen", "127.0.0.1:0", "--admin-socket", running.adminSocket,
            "--state-directory", running.stateDirectory,
        ])
        #expect(second.status == 1)
        #expect(second.output.contains("another process is already listening on the admin socket"))
        #expect(!second.output.contains("clients still open"), "\(second.output)")
    }

    @Test("a maxClients beyond the open-file limit is warned about at start-up")
    func openFileWarning() throws {
        // Linux caps open files at fs.nr_open (1,048,576 by default), so 10 million cannot fit.
        let daemon = try Daemon(config: #"{"limits": {"maxClients": 10000000}}"#)
        _ = try daemon.waitForLog("the open-file limit allows fewer clients than limits.maxClients")
        #expect(daemon.output.contains("maxClients=10000000"))
        // With the default 10,000 clients there is nothing to warn about, where the hard limit
        // allows them.
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_max >= 10_064 else { return }
        let quiet = try Daemon()
        _ = try quiet.waitForLog("starting")
        #expect(!quiet.output.contains("open-file limit"))
    }

    @Test("--listen alone leaves the web client off, and says so; --help's examples are whole lines")
    func listenWithoutWeb() throws {
        // A "web" section that leaves the listener at its default: the test daemon adds no --web-listen.
        let daemon = try Daemon(config: #"{"web": {"pingIntervalSeconds": 30}}"#)
        try daemon.waitForLog("the web client is off: --listen was given without --web-listen")
        #expect(!daemon.output.contains("serving the web client"))
        let configured = try Daemon(config: #"{"web": {"listen": ["127.0.0.1:0"]}}"#)
        _ = try configured.webPort()  // a web listener the file asks for stays

        let help = try Daemon.run(["/usr/bin/env", "COLUMNS=80", Daemon.binary, "--help"])
        for example in [
            "  chatd                  # the defaults; then telnet 127.0.0.1 7777",
            "  chatd --web-listen 0.0.0.0:8080     # the page, for all",
        ] {
            #expect(help.out.split(separator: "\n").contains { $0 == example }, "\(help.out)")
        }
    }

    @Test("--listen takes IPv6 literals and several addresses")
    func listenOverrides() throws {
        let daemon = try Daemon(extraArguments: ["--listen", "[::1]:0", "--event-loops", "2"])
        _ = try daemon.waitForLog("listening for chat clients on [::1]:")
        #expect(daemon.output.contains("eventLoops=2"))
        let client = try daemon.connect()
        try client.expect("*** Please choose a nickname:")
    }
}
