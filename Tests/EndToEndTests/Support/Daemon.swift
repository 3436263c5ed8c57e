import Foundation
import Synchronization

/// The built `chatd` binary, run as a child process for one test.
///
/// It listens on 127.0.0.1 port 0; the test learns the port from the daemon's own
/// "listening for chat clients on HOST:PORT" log line, so tests never share or guess ports.
final class Daemon: Sendable {
    let process: ChildProcess
    /// chatd's own pid (the launcher's, which execs chatd, when there is a launcher).
    let pid: Int32
    let port: Int
    let configPath: String
    let directory: String
    let adminSocket: String
    let stateDirectory: String
    private let log = LogBuffer()
    /// Set when a later daemon will restart on this one's directory.
    let keepDirectory = Mutex(false)

    /// The directory holding the binaries built with the tests (`.build/debug`).
    static let binDirectory: URL = {
        if let dir = ProcessInfo.processInfo.environment["CHATD_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
        // The test bundle may sit inside `chatdPackageTests.xctest/...`.
        while !FileManager.default.fileExists(atPath: dir.appendingPathComponent("chatd").path), dir.path != "/" {
            dir = dir.deletingLastPathComponent()
        }
        return dir
    }()

    static var binary: String { binDirectory.appendingPathComponent("chatd").path }

    /// Starts chatd with `config` (JSON text; the listen address is forced to 127.0.0.1:0) and
    /// waits until it listens.
    /// `directory` may be an earlier daemon's, to restart on its state. `launcher` runs chatd
    /// through another program (e.g. systemd-socket-activate); `trigger` runs once it started.
    init(
        config: String = "{}", extraArguments: [String] = [], directory: String? = nil, environment: [String: String] = [:],
        launcher: [String] = [], journal: Bool = false, trigger: (_ waitForLog: (String) throws -> Void) throws -> Void = { _ in }
    ) throws {
        let dir = directory ?? "/tmp/chatd-test-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        self.directory = dir
        configPath = dir + "/chatd.json"
        adminSocket = dir + "/admin.sock"
        stateDirectory = dir + "/state"
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)

        // The web client on a free port too, unless the test decides.
        let web = extraArguments.contains { ["--web-listen", "--no-web", "--web-tls-listen"].contains($0) } || config.contains("\"web\"")
        let arguments =
            [
                "--config", configPath, "--listen", "127.0.0.1:0", "--log-level", "debug", "--admin-socket", adminSocket,
                "--state-directory", stateDirectory,
            ] + (web ? [] : ["--web-listen", "127.0.0.1:0"])
            // Several loops on any machine, so every test crosses loops (fan-out, ordering).
            + (extraArguments.contains("--event-loops") || config.contains("\"eventLoops\"") ? [] : ["--event-loops", "3"])
            + extraArguments
        let log = self.log
        let process = try ChildProcess(
            launcher + [Self.binary] + arguments, environment: ProcessInfo.processInfo.environment.merging(environment) { $1 },
            output: log, journal: journal)
        self.process = process
        do {
            try trigger { text in _ = try Self.waitFor(log: log, process: process, timeout: 20) { $0.contains(text) ? text : nil } }
            let started = try Self.waitFor(log: log, process: process, timeout: 20) { text in
                // `pid=` in the "starting" line
                text.range(of: #"pid=\d+"#, options: .regularExpression).map { String(text[$0].dropFirst(4)) }
            }
            pid = Int32(started)!
            let listening = try Self.waitFor(log: log, process: process, timeout: 20) { text in
                text.range(of: #"listening for chat clients on 127\.0\.0\.1:(\d+)"#, options: .regularExpression).map { String(text[$0]) }
            }
            port = Int(listening.split(separator: ":").last!)!
            _ = try Self.waitFor(log: log, process: process, timeout: 20) { $0.contains("admin socket listening") ? "" : nil }
        } catch {
            // deinit does not run for a half-built object: leave no daemon behind.
            if let pid = Self.loggedPID(log.text) { kill(pid, SIGKILL) }
            kill(process.pid, SIGKILL)
            throw error
        }
    }

    private static func loggedPID(_ text: String) -> Int32? {
        text.range(of: #"pid=\d+"#, options: .regularExpression).flatMap { Int32(text[$0].dropFirst(4)) }
    }

    /// Everything the daemon logged so far.
    var output: String { log.text }

    /// Waits until the log contains `text`.
    @discardableResult
    func waitForLog(_ text: String, timeout: Double = 10) throws -> String {
        try Self.waitFor(log: log, process: process, timeout: timeout) { $0.contains(text) ? text : nil }
    }

    /// Waits until the whole log so far satisfies `condition` (checked again at each new output).
    func waitForLog(timeout: Double = 10, until condition: (String) -> Bool) throws {
        _ = try Self.waitFor(log: log, process: process, timeout: timeout) { condition($0) ? "" : nil }
    }

    private static func waitFor(
        log: LogBuffer, process: ChildProcess, timeout: Double, _ match: (String) -> String?
    ) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let text = log.text
            if let found = match(text) { return found }
            if !process.isRunning && !text.isEmpty {
                // Give the pipe a last chance to deliver what the process wrote before exiting.
                if let found = match(log.text) { return found }
                throw TestFailure(
                    "chatd exited (status \(process.terminationStatus ?? -1)) before the expected output; it logged:\n\(text)")
            }
            if Date() > deadline { throw TestFailure("timed out waiting for chatd; it logged:\n\(text)") }
            log.waitForMore(until: min(deadline, Date().addingTimeInterval(0.2)))
        }
    }

    func connect(from source: String? = nil) throws -> Client { try Client(port: port, source: source) }

    /// A new client, registered as `nick` (its greeting and member list read).
    func registered(_ nick: String) throws -> Client {
        let client = try connect()
        try client.register(nick)
        return client
    }

    /// The web client's port (the first web listener), once chatd logged it.
    func webPort() throws -> Int {
        let line = try Self.waitFor(log: log, process: process, timeout: 20) { text in
            text.range(of: #"serving the web client on http://[^ ]*:(\d+)/"#, options: .regularExpression).map { String(text[$0]) }
        }
        return Int(line.dropLast().split(separator: ":").last!)!
    }

    /// The IRC listener's port (`--irc-listen 127.0.0.1:0`), once chatd logged it.
    func ircPort() throws -> Int {
        let line = try Self.waitFor(log: log, process: process, timeout: 20) { text in
            text.range(of: #"listening for IRC clients on [^ ]*:(\d+)\n"#, options: .regularExpression).map { String(text[$0]) }
        }
        return Int(line.dropLast().split(separator: ":").last!)!
    }

    /// Sends `signal` and waits for the process to exit; returns its exit status.
    func stop(signal: Int32 = SIGTERM, timeout: Double = 15) throws -> Int32 {
        if process.isRunning { kill(pid, signal) }
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() > deadline {
                kill(pid, SIGKILL)
                throw TestFailure("chatd did not exit within \(timeout)s of signal \(signal)")
            }
            log.waitForMore(until: Date().addingTimeInterval(0.05))
        }
        return process.terminationStatus ?? -1
    }

    deinit {
        if process.isRunning {
            kill(pid, SIGKILL)
            kill(process.pid, SIGKILL)
        }
        if keepDirectory.withLock({ !$0 }) { try? FileManager.default.removeItem(atPath: directory) }
    }

    /// chatctl against this daemon: exit status, stdout, stderr.
    func chatctl(_ arguments: [String], socket: String? = nil, prefix: [String] = []) throws -> (status: Int32, out: String, err: String) {
        try Self.run(prefix + [Self.binDirectory.appendingPathComponent("chatctl").path, "--socket", socket ?? adminSocket] + arguments)
    }

    /// Runs a program to completion; returns its exit status, stdout and stderr.
    static func run(_ command: [String]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: command[0])
        process.arguments = Array(command.dropFirst())
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes concurrently so neither fills up.
        let errData = Mutex(Data())
        let errDone = DispatchSemaphore(value: 0)
        Thread {
            errData.withLock { $0 = err.fileHandleForReading.readDataToEndOfFile() }
            errDone.signal()
        }.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        errDone.wait()
        return (
            process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData.withLock { $0 }, as: UTF8.self)
        )
    }

    /// Runs chatd to completion with `arguments`; returns its exit status and combined output.
    static func runToCompletion(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// What the daemon wrote, and a way to wait until it writes more without a polling sleep.
final class LogBuffer: Sendable {
    private let state = Mutex(("", 0))
    private let ended = Mutex(false)
    private let condition = NSCondition()

    var text: String { state.withLock { $0.0 } }

    /// True once the writer closed its end (everything it wrote is in `text`).
    var isEnded: Bool { ended.withLock { $0 } }

    func end() {
        condition.lock()
        ended.withLock { $0 = true }
        condition.broadcast()
        condition.unlock()
    }

    func append(_ data: Data) {
        condition.lock()
        state.withLock {
            $0.0 += String(decoding: data, as: UTF8.self)
            $0.1 += 1
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Waits until more output arrives or `deadline` passes.
    func waitForMore(until deadline: Date) {
        condition.lock()
        _ = condition.wait(until: deadline)
        condition.unlock()
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
