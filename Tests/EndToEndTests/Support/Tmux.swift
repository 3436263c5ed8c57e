import Foundation

/// A program running in a real terminal: a private tmux server with one pane of a fixed size.
/// Tests type into it with `send-keys` and read the screen as the terminal drew it
/// (`capture-pane`), so what they check is what a person would see.
final class Tmux {
    let socket = "chat-test-\(UUID().uuidString.prefix(8))"
    private let configPath: String

    init(_ command: [String], width: Int = 80, height: Int = 24, environment: [String: String] = [:]) throws {
        configPath = NSTemporaryDirectory() + socket + ".conf"
        // Keep the pane after the program exits, to read its last words.
        try "set -g remain-on-exit on\nset -g status off\n".write(toFile: configPath, atomically: true, encoding: .utf8)
        let env = environment.map { "\($0.key)=\(Self.quote($0.value))" }.joined(separator: " ")
        let line = (env.isEmpty ? "" : "env \(env) ") + command.map(Self.quote).joined(separator: " ")
        // The terminal is a person's, not the test runner's (swift test sets NO_COLOR). The first
        // command starts the tmux server, which keeps the command's output pipes open:
        // wait for the command's exit, not for the end of its output.
        let output = LogBuffer()
        let start = try ChildProcess(
            ["/usr/bin/tmux", "-L", socket, "-f", configPath, "new-session", "-d", "-x", "\(width)", "-y", "\(height)", line],
            environment: ProcessInfo.processInfo.environment.filter { $0.key != "NO_COLOR" }, output: output)
        let deadline = Date().addingTimeInterval(10)
        while start.isRunning && Date() < deadline { output.waitForMore(until: Date().addingTimeInterval(0.05)) }
        guard start.terminationStatus == 0 else { throw TestFailure("tmux new-session failed: \(output.text)") }
    }

    deinit {
        _ = try? Daemon.run(["/usr/bin/tmux", "-L", socket, "kill-server"])
        try? FileManager.default.removeItem(atPath: configPath)
    }

    @discardableResult
    func tmux(_ arguments: [String]) throws -> String {
        let result = try Daemon.run(["/usr/bin/tmux", "-L", socket] + arguments)
        guard result.status == 0 else { throw TestFailure("tmux \(arguments.joined(separator: " ")): \(result.err)") }
        return result.out
    }

    /// Types text literally.
    func type(_ text: String) throws { try tmux(["send-keys", "-l", "--", text]) }

    /// Types a line and presses Enter.
    func submit(_ text: String) throws {
        try type(text)
        try press("Enter")
    }

    /// Presses named keys: Enter, Left, Home, C-a, BSpace, Tab, Up...
    func press(_ keys: String...) throws { try tmux(["send-keys"] + keys) }

    /// The screen, one string per row, trailing spaces trimmed.
    func screen() throws -> [String] {
        try tmux(["capture-pane", "-p"]).split(separator: "\n", omittingEmptySubsequences: false).map {
            String($0.reversed().drop(while: { $0 == " " }).reversed())
        }
    }

    /// The last non-empty row: the input line while the client runs.
    func inputRow() throws -> String { try screen().last(where: { !$0.isEmpty }) ?? "" }

    /// The cursor's column and row.
    func cursor() throws -> (x: Int, y: Int) {
        let parts = try tmux(["display-message", "-p", "#{cursor_x} #{cursor_y}"]).split(separator: " ")
        return (
            Int(parts[0].trimmingCharacters(in: .whitespacesAndNewlines))!, Int(parts[1].trimmingCharacters(in: .whitespacesAndNewlines))!
        )
    }

    func resize(width: Int, height: Int) throws {
        try tmux(["resize-window", "-x", "\(width)", "-y", "\(height)"])
    }

    /// Waits (polling the screen, the only signal a terminal gives) until `match` holds.
    @discardableResult
    func waitFor(_ description: String, timeout: Double = 10, _ match: ([String]) -> Bool) throws -> [String] {
        let deadline = Date().addingTimeInterval(timeout)
        while true {
            let rows = try screen()
            if match(rows) { return rows }
            if Date() > deadline {
                throw TestFailure("timed out waiting for \(description); the screen:\n" + rows.joined(separator: "\n"))
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    /// Waits until some row contains `text`.
    @discardableResult
    func waitFor(row text: String, timeout: Double = 10) throws -> [String] {
        try waitFor("a row containing \"\(text)\"", timeout: timeout) { $0.contains { $0.contains(text) } }
    }

    /// Waits until the pane's program has exited; returns its exit status (128 + the signal
    /// that ended it), or nil when tmux does not know it: it sometimes marks a pane dead on the
    /// terminal's hang-up and never fills in the status.
    func waitForExit(timeout: Double = 10) throws -> Int? {
        let deadline = Date().addingTimeInterval(timeout)
        var deadSince: Date?
        while true {
            let state = try tmux(["display-message", "-p", "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}"])
                .trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ":", omittingEmptySubsequences: false)
            if state.count == 3, state[0] == "1" {
                if let status = Int(state[1]) { return status }
                if let signal = Int(state[2]) { return 128 + signal }
                if let since = deadSince, Date().timeIntervalSince(since) > 1 { return nil }
                deadSince = deadSince ?? Date()
            }
            if Date() > deadline { throw TestFailure("the program did not exit; the screen:\n" + (try screen()).joined(separator: "\n")) }
            Thread.sleep(forTimeInterval: 0.02)
        }
    }

    static func quote(_ word: String) -> String {
        "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
